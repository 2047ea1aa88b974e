"""Checkpoint file formats, validated on read: safetensors headers, run JSON files, optimiser state without pickle.

Used by :mod:`rawdiff.train` (``load_run``, ``run_is_complete``, ``read_history``, resume).  Every problem is a
one-line ``DataError("corrupt checkpoint <file>: <why>; re-train or restore it")`` so callers that cache runs
(``get_or_train``) can rebuild on it.  The safetensors layout checked here follows the format's specification
(huggingface/safetensors README: 8-byte little-endian header size, JSON header, flat byte buffer).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from rawdiff.errors import DataError

__all__ = ["CorruptCheckpoint", "load_optimizer", "load_weights", "read_json", "read_safetensors_header",
           "save_optimizer"]


class CorruptCheckpoint(DataError):
    """A run's file that cannot be read back (truncated, foreign, malformed); ``get_or_train`` retrains on it."""


def corrupt_error(path: Path, why: str) -> CorruptCheckpoint:
    return CorruptCheckpoint(f"corrupt checkpoint {path}: {why}; re-train or restore it")


def read_json_typed(path: Path, kind: type = dict) -> Any:
    """JSON from a checkpoint file, or a one-line ``corrupt checkpoint`` DataError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise corrupt_error(path, "file missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise corrupt_error(path, f"unreadable ({type(err).__name__})") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise corrupt_error(path, f"not valid JSON ({str(err).splitlines()[0] if str(err) else 'empty'})") from None
    if not isinstance(obj, kind):
        raise corrupt_error(path, f"expected a JSON {'object' if kind is dict else kind.__name__}, "
                             f"got {type(obj).__name__}")
    return obj


@contextlib.contextmanager
def config_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a missing section or malformed value of a run's JSON file (KeyError / TypeError / ValueError while
    rebuilding configs from it) into the one-line ``corrupt checkpoint`` :class:`DataError`."""
    try:
        yield
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        what = f"missing field {err}" if isinstance(err, KeyError) else f"malformed ({err})"
        raise CorruptCheckpoint(f"corrupt checkpoint {path}: {what}; re-train or restore it") from None


def read_json(path: str | os.PathLike) -> dict:
    """A run's JSON file (``config.json``, ``did.json``, ...) as a dict, or a one-line ``corrupt checkpoint``
    :class:`DataError` (malformed, not UTF-8, not an object, missing)."""
    return read_json_typed(Path(path))


_ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
              "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def read_safetensors_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` from a safetensors file, checking its layout without reading the tensors.

    Format (huggingface/safetensors docs): 8-byte little-endian header length N, N bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the byte buffer.
    Checks: N fits in the file, the JSON parses, every dtype is known, every ``end - begin`` equals
    ``prod(shape) * itemsize``, the offsets tile the buffer exactly and the buffer ends at the end of the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise corrupt_error(path, f"{size} bytes, too short for a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n < 2 or 8 + n > size or n > 100_000_000:
                raise corrupt_error(path, f"not a safetensors file (header length {n} vs file size {size})")
            raw = f.read(n)
    except FileNotFoundError:
        raise corrupt_error(path, "file missing") from None
    except IsADirectoryError:
        raise corrupt_error(path, "is a directory") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise corrupt_error(path, "not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise corrupt_error(path, "not a safetensors file (header is not a JSON object)")
    out, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
            nbytes = math.prod(shape) * _ST_DTYPES[dtype]
        except (KeyError, TypeError, ValueError):
            raise corrupt_error(path, f"bad header entry for tensor {name!r}") from None
        if not (isinstance(begin, int) and isinstance(end, int)) or end - begin != nbytes or begin < 0:
            raise corrupt_error(path, f"tensor {name!r}: offsets {info['data_offsets']} do not match {dtype} {list(shape)}")
        out[name] = (dtype, shape)
        spans.append((begin, end))
    buffer = size - 8 - n
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise corrupt_error(path, "tensor data overlaps or has holes")
        pos = end
    if pos != buffer:
        raise corrupt_error(path, f"truncated or padded: header describes {pos} data bytes, the file holds {buffer}")
    return out


def load_weights(path: Path, model: nn.Module, device: str | torch.device) -> dict[str, torch.Tensor]:
    """Validated state dict for ``model`` from ``path`` (names and shapes must match the model exactly)."""
    header = read_safetensors_header(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(expected.keys() - header.keys())
    extra = sorted(header.keys() - expected.keys())
    if missing or extra:
        parts = ([f"missing tensors {missing[:3]}{' ...' if len(missing) > 3 else ''}"] if missing else []) + \
                ([f"unexpected tensors {extra[:3]}{' ...' if len(extra) > 3 else ''}"] if extra else [])
        raise corrupt_error(path, f"does not match the model ({'; '.join(parts)})")
    for k, shape in expected.items():
        if header[k][1] != shape:
            raise corrupt_error(path, f"tensor {k!r} has shape {list(header[k][1])}, the model expects {list(shape)}")
    try:
        return load_file(str(path), device=str(device))
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error type on bad data
        raise corrupt_error(path, f"unreadable ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def save_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    """Optimiser state as ``optim.safetensors`` (tensors) + ``optim.json`` (everything else); no pickle."""
    sd = opt.state_dict()
    tensors, layout = {}, {}
    for pid, st in sd["state"].items():
        layout[str(pid)] = {}
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{pid}.{key}"] = val.detach().to("cpu").contiguous()
                layout[str(pid)][key] = None
            else:
                layout[str(pid)][key] = val
    save_file(tensors, str(folder / "optim.safetensors"))
    (folder / "optim.json").write_text(json.dumps({"param_groups": sd["param_groups"], "state": layout}))


def load_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    """Optimiser state from ``folder`` into ``opt``.  The tensors are read onto the CPU: ``load_state_dict`` moves
    the moments onto each parameter's device and keeps AdamW's ``step`` counters on the CPU (unless capturable or
    fused), so ``opt.step()`` does not read a GPU scalar back per parameter per step after a resume."""
    path = folder / "optim.json"
    if not path.exists() and (folder / "optim.pt").exists():
        raise CorruptCheckpoint(f"{folder}: optimiser state written by an older rawdiff (optim.pt, a pickle, is "
                                f"never loaded); resume is not possible, re-train without --resume")
    meta = read_json_typed(path)
    tpath = folder / "optim.safetensors"
    names = read_safetensors_header(tpath)
    try:
        tensors = load_file(str(tpath), device="cpu")
        state = {}
        for pid, entries in meta["state"].items():
            state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v is None else v) for k, v in entries.items()}
        groups = [{**g, **({"betas": tuple(g["betas"])} if "betas" in g else {})} for g in meta["param_groups"]]
        if len(state) and set(names) != {f"{pid}.{k}" for pid, e in meta["state"].items() for k, v in e.items()
                                         if v is None}:
            raise ValueError("tensor names do not match optim.json")
        opt.load_state_dict({"state": state, "param_groups": groups})
    except Exception as err:  # noqa: BLE001 - KeyError/ValueError/TypeError from a mismatching state
        raise corrupt_error(path, f"optimiser state does not fit the model ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''})") from None


