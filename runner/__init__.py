"""cc-ci: a CI harness for Co-op Cloud recipes."""
