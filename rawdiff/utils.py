"""Small shared helpers: device resolution, seeded generators, atomic file writes, hashing, timing."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from rawdiff.errors import DataError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else is passed to :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def prefers_channels_last(device: str | torch.device = "auto", amp: bool = False) -> bool:
    """The fastest correct memory format per device, used when a config leaves ``channels_last=None``.

    CPU: NHWC (oneDNN convolutions) measured 12-21 % shorter training steps and 20 % shorter DiD cascade
    sampling than NCHW on 2 cores, with the same outputs to float tolerance (``benchmarks/bench_train.py``,
    ``benchmarks/bench_cascade.py``, ``tests/test_speed_defaults.py``).  CUDA: NHWC only under bf16 autocast, where tensor-core convolutions run
    natively in NHWC; fp32 CUDA stays NCHW (no GPU measurement backs a change there).
    """
    dev = resolve_device(device)
    return dev.type == "cpu" or (dev.type == "cuda" and amp)


def set_cuda_speed_flags(device: str | torch.device = "auto") -> bool:
    """On CUDA, choose the fast fp32 paths explicitly (rawdiff.train.train calls this; docs/performance.md):
    TF32 for fp32 matmuls and cuDNN convolutions (10-bit mantissa products, fp32 accumulation — the parts of a step
    that bf16 autocast leaves in fp32; PyTorch's default since 1.12 is off for matmuls) and ``cudnn.benchmark``
    (a training run has fixed shapes, so the per-shape algorithm search pays once).  These are process-wide torch
    switches (legacy ``allow_tf32`` API, the one ``torch.get_float32_matmul_precision`` still reads).  No-op on
    CPU; returns whether they were set."""
    if resolve_device(device).type != "cuda":
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    return True


def default_tile_batch(device: str | torch.device = "auto") -> int:
    """Tiles per network call in DiD's cascade when the caller leaves ``max_batch=None``: 64 on CPU, where the
    activations of 64 32x32 tiles stay cache-sized (15 % shorter cascades than 256 on 2 cores: 1.97 against
    2.31 s per 64 x 192 word crop, study DiD net, three alternating runs; docs/performance.md "DiD
    cascade"), 256 elsewhere (GPUs want large batches)."""
    return 64 if resolve_device(device).type == "cpu" else 256


def to_inference(model: torch.nn.Module, device: str | torch.device = "auto",
                 channels_last: bool | None = None) -> torch.nn.Module:
    """``model`` on ``device`` in eval mode, in the per-device fastest memory format (see above)."""
    dev = resolve_device(device)
    use_cl = prefers_channels_last(dev) if channels_last is None else bool(channels_last)
    fmt = torch.channels_last if use_cl else torch.contiguous_format
    return model.to(dev, memory_format=fmt).eval()


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``seed`` on ``device`` (randomness is always injected)."""
    g = torch.Generator(device=resolve_device(device))
    g.manual_seed(int(seed))
    return g


def derive_seed(*parts: Any) -> int:
    """Deterministic 63-bit seed from any printable parts (e.g. ``derive_seed(seed, 'train', step)``)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


@contextlib.contextmanager
def seeded_init(seed: int, *tags: Any) -> Iterator[None]:
    """Construct models inside this block to make their initial weights depend on ``(seed, *tags)`` only.

    ``torch.nn`` layers initialise from torch's default generator; this forks it (the caller's RNG state is left
    untouched) and seeds the fork, so training from the same seed starts from the same weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init", *tags))
        yield


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (dataclasses via ``asdict`` first)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` if a file can be written there: one-line DataError if it is a directory or its folder is a file."""

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an output file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{path}: cannot create it, {parent} is a file, not a folder")
            break
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace`` (never half-written).

    A directory at ``path``, a file where a folder should be, or an OS error (permissions, disk full) raises a
    one-line :class:`rawdiff.errors.DataError`; the temp file is removed."""

    path = check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise DataError(f"{path}: cannot write ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise DataError(f"{path}: cannot write ({err.strerror or err})") from None
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside ``final``; on success it is renamed to ``final``, on error removed."""
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final}: already exists (pass overwrite=True / --overwrite to replace it)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    tmp.chmod(0o755)   # mkdtemp's 0700 would become the final folder's mode
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Timer:
    """``with Timer() as t: ...; t.seconds`` — synchronises CUDA so GPU timings are real."""

    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.seconds = float("nan")

    def __enter__(self) -> "Timer":
        self._sync()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self._t0

    def _sync(self) -> None:
        if self.device is not None and torch.device(self.device).type == "cuda":
            torch.cuda.synchronize(self.device)


def repo_root(start: str | os.PathLike | None = None) -> Path | None:
    """The rawdiff checkout containing ``start`` (or this file), if any; ``None`` for a plain install."""
    p = Path(start or __file__).resolve()
    for cand in [p, *p.parents]:
        if (cand / "pyproject.toml").exists() and (cand / "rawdiff").is_dir():
            return cand
    return None


def default_cache_dir() -> Path:
    """Where notebooks cache trained checkpoints: ``$RAWDIFF_CACHE`` or ``<repo>/build/cache``."""
    env = os.environ.get("RAWDIFF_CACHE")
    if env:
        return Path(env)
    root = repo_root()
    return (root / "build" / "cache") if root else Path.home() / ".cache" / "rawdiff"


def git_commit(root: Path | None) -> str | None:
    """HEAD commit of the checkout at ``root`` (``None`` outside git or when git is missing)."""
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else None
