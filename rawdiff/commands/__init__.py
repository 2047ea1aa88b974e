"""CLI sub-commands; each module exposes ``register(subparsers)`` (see rawdiff/cli.py)."""
