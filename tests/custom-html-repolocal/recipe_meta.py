"""custom-html-repolocal's settings in cc-ci (the repo's approved cc-ci/recipe_meta.py replaces them)."""

EXPECTED_NA = {"backup": "stateless: serves what its image holds"}
