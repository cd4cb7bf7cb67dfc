"""The catalogue: many recipes, each one ordinary run, over one or more targets; their levels kept
in a history (SQLite in the state dir) and compared with the previous catalogue run."""
