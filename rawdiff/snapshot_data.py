"""What data a results snapshot's numbers came from (issue 25): the sha256 list of the low-light / LOL images in
a snapshot's ``MANIFEST.json`` (rawdiff.results.make_snapshot writes it as ``data``), and the check that another
copy of the data is the same.

The list is rawdiff.data.lol.lol_sha256 (``{path relative to the folder holding the splits: sha256}``, the
format ``rawdiff data check DIR --sha256 FILE`` writes as ``sha256sum`` lines), so ``sha256sum -c`` and
:func:`check_data` both verify a copy; in the spirit of data "fingerprints" in provenance manifests.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from rawdiff.data.datasets import find_lowlight_root
from rawdiff.data.lol import locate_lowlight, lol_sha256
from rawdiff.errors import DataError

__all__ = ["read_sha256_list", "data_entry", "check_data", "snapshot_data", "read_manifest"]


def read_manifest(folder: str | Path) -> dict:
    """A snapshot folder's ``MANIFEST.json`` as a dict; one-line DataError if it is missing or unreadable."""
    path = Path(folder) / "MANIFEST.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the manifest ({err})") from None


def read_sha256_list(path: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` from a ``sha256sum``-style list (``<sha256>  <path>`` per line, as
    ``rawdiff data check DIR --sha256 FILE`` writes) or a JSON object path -> sha256; one-line DataError otherwise."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{p}: cannot read the sha256 list ({err})") from None
    if text.lstrip().startswith("{"):
        try:
            table = {str(k): str(v) for k, v in json.loads(text).items()}
        except (ValueError, AttributeError) as err:
            raise DataError(f"{p}: not a JSON object path -> sha256 ({err})") from None
    else:
        table = {}
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                parts = line.strip().split(None, 1)
                if len(parts) != 2:
                    raise DataError(f"{p}:{i}: expected '<sha256>  <path>', got {line!r}")
                table[parts[1].lstrip("*")] = parts[0]
    bad = [k for k, v in table.items() if not re.fullmatch(r"[0-9a-f]{64}", v)]
    if bad or not table:
        raise DataError(f"{p}: " + (f"not a sha256 for {bad[0]}" if bad else "empty sha256 list"))
    return table


def data_entry(man: dict, data_sha256: dict[str, str] | str | Path | None = None,
               data_root: str | Path | None = None) -> dict | None:
    """The manifest's ``data`` entry: ``{"root", "sha256": {path: sha256}, "n_files"}`` from ``data_sha256`` (a
    dict or a list file, :func:`read_sha256_list`), else computed from ``data_root``, else from the run's
    recorded ``data_root`` (notebook parameters) when it holds LOL; ``None`` when the run used no data folder.
    A recorded LOL folder that is gone gives ``sha256: None`` with a note."""
    roots = {str(nb.get("parameters", {}).get("data_root")) for nb in man.get("notebooks", {}).values()
             if nb.get("parameters", {}).get("data_root")}
    root = str(data_root) if data_root is not None else (sorted(roots)[0] if len(roots) == 1 else None)
    if data_sha256 is not None:
        table = data_sha256 if isinstance(data_sha256, dict) else read_sha256_list(data_sha256)
        return {"root": root, "sha256": dict(table), "n_files": len(table)}
    if root is None:
        return None
    if not Path(root).is_dir():
        return {"root": root, "sha256": None, "note": "folder not found when the snapshot was made"}
    try:
        layout = locate_lowlight(find_lowlight_root(root))   # root itself, or its lol/, LOL/, lowlight/ ...
    except DataError:
        layout = None
    if layout is None or (data_root is None and layout.kind != "lol"):
        return None if data_root is None else {"root": root, "sha256": None, "note": "not a low-light folder"}
    table = lol_sha256(layout.root)
    return {"root": root, "layout": layout.kind, "sha256": table, "n_files": len(table)}


def check_data(snapshot: str | Path, data_root: str | Path) -> list[str]:
    """Problems (empty = same data) comparing ``data_root``'s images with the sha256 list in a snapshot's
    manifest: files missing in either, or with another sha256."""
    man = read_manifest(snapshot)
    want = (man.get("data") or {}).get("sha256")
    if not want:
        return [f"{snapshot}: the manifest records no data sha256 list"]
    have = lol_sha256(find_lowlight_root(data_root))
    problems = [f"{k}: missing in {data_root}" for k in want if k not in have]
    problems += [f"{k}: sha256 differs from the snapshot's" for k in want if k in have and have[k] != want[k]]
    problems += [f"{k}: not in the snapshot's list" for k in have if k not in want]
    return problems


def snapshot_data(folder: str | Path) -> dict | None:
    """The ``data`` entry of a snapshot's manifest (:func:`data_entry`), ``None`` if it has none."""
    return read_manifest(folder).get("data")
