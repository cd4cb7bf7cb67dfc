"""notes-tiny's settings: the real-shaped recipe keeps a worker without a healthcheck on purpose,
since every floor assertion must hold for an app that has none (docs/generic-floor.md)."""

LINT_OPT_OUT = {"R002": "the worker has no healthcheck on purpose: the floor must hold for a service without one"}
