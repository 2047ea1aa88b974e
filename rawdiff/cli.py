"""``rawdiff`` command line.  Each sub-command lives in ``rawdiff/commands/<name>.py`` with ``register(sub)``.

User errors (:class:`rawdiff.errors.RawdiffError`) and a missing optional dependency (naming the pyproject extra
that installs it) are printed as one line and exit with status 2; any other exception is a bug: its traceback is
printed, followed by a line asking to report it (exit status 1).
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order they appear in --help.  Heavy imports happen inside each command.
COMMAND_MODULES = ("data", "train", "runs", "develop", "enhance", "ocr", "reproduce", "results")


def build_parser() -> argparse.ArgumentParser:
    from rawdiff import __version__

    parser = argparse.ArgumentParser(prog="rawdiff", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rawdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"rawdiff.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"rawdiff.commands.{name}":
                continue  # not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rawdiff.errors import RawdiffError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        rc = args.func(args)
    except RawdiffError as err:
        print(f"rawdiff {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # an optional dependency (extra) is not installed
        from rawdiff.compat import extra_for, missing_message

        if extra_for(err.name) is None:
            raise
        print(f"rawdiff {args.command}: error: {missing_message(err.name)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        if argv is not None:  # called from Python (tests, notebooks): let the caller see the exception
            raise
        import traceback

        traceback.print_exc()  # an unexpected error is a bug: show the traceback, then say so
        print(f"rawdiff {args.command}: this is a bug in rawdiff, please report it with the traceback above",
              file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
