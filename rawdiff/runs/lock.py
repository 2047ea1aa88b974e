"""One writer per cached run: a file lock beside the run folder, so that two processes asking
rawdiff.runs.lifecycle.get_or_train for the same cache key at once (two notebooks, or a notebook and
``rawdiff train --cache``) train it once — the second waits, then finds the run complete and reuses it.

The lock is ``fcntl.flock`` (BSD advisory lock) on ``<parent>/.<run folder>.lock``, removed by its holder on
release.  The kernel drops a flock lock when the file is closed, which happens when its holder exits or is killed
(SIGKILL included), so the lock of a dead process never blocks anyone: the file it leaves means nothing.  The holder writes
its pid and host into the file, only to say whom a waiting process waits for.  On NFS, Linux emulates flock with
POSIX byte-range locks (lockd), which are dropped with the process too.  Where ``fcntl`` does not exist (Windows)
no lock is taken and concurrent callers may train the same run twice (each then writes it atomically).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunLock:
    """The lock of one run folder (see the module docstring); :meth:`try_acquire` never blocks."""

    def __init__(self, run_dir: str | os.PathLike):
        run_dir = Path(run_dir)
        self.path = run_dir.parent / f".{run_dir.name}.lock"
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True), else False at once."""
        if fcntl is None:
            return True
        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except OSError:           # held by another process (EWOULDBLOCK), or the file went away
            same = False
        if not same:              # held, or locked a file its holder removed on release: try again later
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (for messages)."""
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        """Remove the lock file (still holding the lock), then unlock: a process that opened the old file finds it
        gone after locking it (:meth:`try_acquire` compares inodes) and tries again."""
        if self.fd is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
