"""User-facing errors: the CLI prints these as one line (no traceback) and exits with status 2."""


class RawdiffError(Exception):
    """Base class for errors caused by user input (bad file, wrong layout, unknown option)."""


class DataError(RawdiffError, ValueError):
    """A dataset or input file is missing, corrupt, or not in the expected layout/format."""


class UnavailableError(RawdiffError, RuntimeError):
    """An optional component (pretrained weights, OCR engine) cannot run here; the message says why."""
