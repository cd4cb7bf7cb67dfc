"""The abra driver: the lifecycle through the real `abra` CLI (docs/abra.md)."""
