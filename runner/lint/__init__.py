"""Recipe lint: abra-style rules over a recipe's files at one ref, before anything is deployed."""

from runner.lint.lint import lint_recipe, validate_opt_outs
from runner.lint.rules import RULES, Finding

__all__ = ["RULES", "Finding", "lint_recipe", "validate_opt_outs"]
