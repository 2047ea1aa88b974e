"""Training under ``torchrun`` (PyTorch DistributedDataParallel): one decision for every rank, failures that end
every rank at once with one message, and a check that the ranks share the run directory.

The rules follow PyTorch's DDP notes (rank 0 decides and writes, a collective shares the decision):

* **Decisions about files** (does the run exist? resume from which checkpoint? reuse or train a cache entry?) are
  made by :func:`on_rank0`: rank 0 runs the function and broadcasts its result — or its error, which every rank
  then raises.  :func:`together` runs a function on every rank and raises the first rank's error everywhere when
  any rank failed (e.g. reading a checkpoint while resuming).  Such errors are *agreed*: every rank raises the same
  one (:func:`is_agreed`); ``rawdiff train`` prints it on rank 0 only.
* **A rank that fails alone** (an exception in its step, a data file it cannot read) leaves the group
  (:func:`fail_fast`: ``destroy_process_group``).  Its connections close, so the other ranks' pending collective
  fails at once (gloo: "Connection closed by peer", measured < 1 s) instead of waiting for the group timeout; they
  raise :class:`PeerFailed`, which nobody prints — the failing rank prints its own message, and ``torchrun`` names
  the rank that failed first.  ``torchrun`` also stops the rest of the group when one process exits non-zero.
* **Group timeout**: ``$RAWDIFF_DIST_TIMEOUT`` seconds (default 1800, torch's own) for every collective — the
  last resort for a rank that hangs without failing.
* **A shared run directory** (:func:`check_shared_dir`): rank 0 writes a token file into it and every rank must
  read it back; a node that sees another folder under the same path (a local disk) would otherwise resume from
  another step.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import socket
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as tdist

from rawdiff.checkpoint_io import CorruptCheckpoint
from rawdiff.errors import DataError, RawdiffError, UnavailableError
from rawdiff.utils import resolve_device

T = TypeVar("T")
TIMEOUT_ENV = "RAWDIFF_DIST_TIMEOUT"
# errors that travel between ranks by (class name, message); any other class arrives as a RawdiffError
_SHARED_ERRORS = {c.__name__: c for c in (RawdiffError, DataError, UnavailableError, CorruptCheckpoint,
                                          FileExistsError, FileNotFoundError, ValueError, FloatingPointError)}


class PeerFailed(RawdiffError):
    """Another process of the group failed (and reports why itself); this one stops too, without a message."""


def dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when torch.distributed is not initialised."""
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank(), tdist.get_world_size()
    return 0, 1


def group_timeout() -> datetime.timedelta:
    """The collective timeout: ``$RAWDIFF_DIST_TIMEOUT`` seconds, default 1800."""
    raw = os.environ.get(TIMEOUT_ENV, "1800")
    try:
        seconds = float(raw)
    except ValueError:
        raise RawdiffError(f"{TIMEOUT_ENV}={raw!r}: expected a number of seconds") from None
    return datetime.timedelta(seconds=seconds)


def maybe_init_distributed(device: str | torch.device = "auto") -> torch.device:
    """Initialise the default process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Uses NCCL on CUDA (one GPU per ``LOCAL_RANK``) and gloo on CPU, with :func:`group_timeout`.  Returns the device
    this rank trains on.
    """
    dev = resolve_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not tdist.is_initialized():
        if dev.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            dev = torch.device("cuda", local)
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=group_timeout())
    elif dev.type == "cuda" and tdist.is_initialized():
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def leave_group() -> None:
    """Destroy the default process group (if any): the peers' pending collectives fail at once."""
    if tdist.is_available() and tdist.is_initialized():
        with contextlib.suppress(Exception):
            tdist.destroy_process_group()


def agreed(err: BaseException) -> BaseException:
    """Mark ``err`` as raised by every rank (see :func:`is_agreed`)."""
    err.rawdiff_agreed = True
    return err


def is_agreed(err: BaseException) -> bool:
    """True for an error every rank of the group raised (rank 0 reports it; the others stay quiet)."""
    return bool(getattr(err, "rawdiff_agreed", False))


def _comm_error(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, getattr(tdist, "DistError", ())) or (isinstance(err, RuntimeError) and (
        "gloo" in text or "nccl" in text or "connection closed" in text or "connection reset" in text))


def collective(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a collective; when the group broke (a peer left or died) leave it and raise :class:`PeerFailed`."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError / DistError for a broken group
        if not _comm_error(err):
            raise
        leave_group()
        raise PeerFailed(f"another process of the group failed ({str(err).splitlines()[0][:160]})") from None


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Around a rank's work: an error this rank raises alone (not agreed, not :class:`PeerFailed`) makes it leave
    the group, so every other rank stops within a second instead of hanging in its next collective."""
    world = dist_info()[1]
    try:
        yield
    except BaseException as err:
        if world == 1 or is_agreed(err) or isinstance(err, PeerFailed):
            raise
        leave_group()
        if _comm_error(err):   # e.g. DDP's gradient all-reduce found a peer gone
            raise PeerFailed(f"another process of the group failed ({str(err).splitlines()[0][:160]})") from None
        raise


def _rebuild(name: str, message: str) -> BaseException:
    cls = _SHARED_ERRORS.get(name)
    return agreed(cls(message) if cls is not None else RawdiffError(f"{name}: {message}"))


def on_rank0(fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 only; its result (picklable: str, int, tuples ...) is returned on every rank, or
    its error raised on every rank (agreed).  Also a barrier.  Without a group: just ``fn()``."""
    rank, world = dist_info()
    if world == 1:
        return fn()
    box: list[Any] = [None]
    local: BaseException | None = None
    if rank == 0:
        try:
            box[0] = ("ok", fn())
        except Exception as err:  # noqa: BLE001 - shared with the other ranks, then re-raised
            local, box[0] = err, ("err", type(err).__name__, str(err))
    collective(tdist.broadcast_object_list, box, src=0)
    if box[0][0] == "ok":
        return box[0][1]
    raise agreed(local) if local is not None else _rebuild(box[0][1], box[0][2])


def together(fn: Callable[[], T]) -> T:
    """``fn()`` on every rank; if any rank failed, every rank raises the error of the lowest failing rank."""
    rank, world = dist_info()
    local: BaseException | None = None
    result: Any = None
    try:
        result = fn()
    except Exception as err:  # noqa: BLE001 - shared with the other ranks, then re-raised
        if world == 1:
            raise
        local = err
    if world == 1:
        return result
    errors: list[Any] = [None] * world
    mine = None if local is None else (type(local).__name__, str(local))
    collective(tdist.all_gather_object, errors, mine)
    first = next(((r, e) for r, e in enumerate(errors) if e is not None), None)
    if first is None:
        return result
    if first[0] == rank and local is not None:
        raise agreed(local)
    name, message = first[1]
    raise _rebuild(name, message if name in _SHARED_ERRORS else f"rank {first[0]}: {message}")


def check_shared_dir(path: str | os.PathLike) -> None:
    """Raise (agreed, on every rank) unless every rank sees the folder ``path`` that rank 0 sees.

    Rank 0 creates ``path`` and writes a random token into ``path/.rawdiff-shared-<token>``; every rank reads it.
    """
    rank, world = dist_info()
    if world == 1:
        return
    path = Path(path)

    def write_token() -> str:
        token = secrets.token_hex(8)
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / f".rawdiff-shared-{token}").write_text(token)
        except OSError as err:
            raise DataError(f"{path}: cannot create the run directory ({err.strerror or err})") from None
        return token

    token = on_rank0(write_token)
    probe = path / f".rawdiff-shared-{token}"
    try:
        seen = probe.read_text() == token
    except OSError:
        seen = False
    views: list[Any] = [None] * world
    collective(tdist.all_gather_object, views, (seen, socket.gethostname()))
    if rank == 0:
        probe.unlink(missing_ok=True)
    blind = [f"rank {r} on {host}" for r, (ok, host) in enumerate(views) if not ok]
    if blind:
        raise agreed(RawdiffError(
            f"{path}: the run directory is not shared by every process ({', '.join(blind)} cannot see the file "
            f"rank 0 on {views[0][1]} wrote there); put it on a filesystem every node mounts at the same path"))
