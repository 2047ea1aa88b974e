"""High-level train/evaluate helpers that notebooks and the CLI call (one module per method)."""
