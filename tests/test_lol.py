"""LOL as a dataset (rawdiff.data.lol, LowLightDataset, rawdiff data check): the authors' our485|eval15/low|high
layout and the GitHub mirror's [dataset/]train|test/low|normal, each bad-folder case as one line, the sha256 list,
and notebook 05 trained and evaluated on a LOL-layout folder through its data_root.  Every image is a tiny PNG
the test writes itself."""
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rawdiff.cli import main
from rawdiff.data.check import check_dataset, inspect_dataset
from rawdiff.config import DataConfig
from rawdiff.data.datasets import ensure_datasets, find_lowlight_root
from rawdiff.data.loaders import LowLightDataset
from rawdiff.data.lol import lol_sha256, locate_lowlight
from rawdiff.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"train": ["2", "10", "1"], "test": ["22", "1"]}      # numbered like LOL; natural order 1, 2, 10


def _png(path: Path, rng, hw=(8, 12), scale=255) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.random((*hw, 3)) * scale).astype(np.uint8)).save(path)


def _lol(root: Path, mirror: bool = False, hw=(8, 12), names=NAMES) -> Path:
    """A LOL-layout folder: our485|eval15/low|high (official) or train|test/low|normal (mirror); returns root."""
    folders = {"train": "train", "test": "test"} if mirror else {"train": "our485", "test": "eval15"}
    high = "normal" if mirror else "high"
    rng = np.random.default_rng(0)
    for split, stems in names.items():
        for stem in stems:
            _png(root / folders[split] / "low" / f"{stem}.png", rng, hw, 40)
            _png(root / folders[split] / high / f"{stem}.png", rng, hw, 255)
    return root


def _one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------------------ both layouts
def test_official_layout_is_read_in_place(tmp_path, capsys):
    lol = _lol(tmp_path / "LOL")
    train, test = LowLightDataset(lol, "train"), LowLightDataset(lol, "test")
    assert (train.layout, train.names, test.names) == ("lol", ["1", "2", "10"], ["1", "22"])
    it = test[1]
    assert it["name"] == "22" and it["low"].shape == (3, 8, 12) and it["label"] == ""
    assert float(it["low"].max()) < 0.2 < float(it["high"].max())
    assert main(["data", "check", str(lol)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "OK: lol (our485|eval15/low|high), 5 pairs (train 3, test 2; images (WxH) 12x8)"
    assert "  note: train: 3 pairs; LOL has 485" in out and "  note: test: 2 pairs; LOL has 15" in out
    assert "  note: 10 image(s) not LOL's 600x400 (WxH), e.g. 12x8" in out


def test_mirror_layout_at_dataset_folder_and_its_parent(tmp_path, capsys):
    checkout = tmp_path / "Low-Light-Image-Enhancement-using-RetinexNet"
    data = _lol(checkout / "dataset", mirror=True)
    (data / "train" / "low" / ".DS_Store").write_bytes(b"\0\1junk")       # the real mirror has these
    (checkout / "model.pth").write_bytes(b"not data")
    for root in (data, checkout):
        ds = LowLightDataset(root, "train")
        assert (ds.layout, ds.names, len(LowLightDataset(root, "test"))) == ("lol", ["1", "2", "10"], 2)
        assert locate_lowlight(root).root == data
        assert check_dataset(root) == []
    assert find_lowlight_root(checkout) == data          # a notebook's data_root may be the checkout
    assert main(["data", "check", str(checkout)]) == 0
    assert capsys.readouterr().out.startswith("OK: lol (train|test/low|normal in dataset/), 5 pairs (train 3, test 2")
    # the same images in the official layout: same pixels, same hashes under other paths
    official = _lol(tmp_path / "official")
    a, b = LowLightDataset(data, "test")[1], LowLightDataset(official, "test")[1]
    assert bool((a["high"] == b["high"]).all())
    assert list(lol_sha256(data, ["test"]).values()) == list(lol_sha256(official, ["test"]).values())


def test_synthetic_layout_still_read_as_ours(tmp_path):
    root = tmp_path / "syn"
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for sub in ("low", "high"):
            _png(root / split / sub / "0.png", rng)
    (root / "train" / "labels.json").write_text(json.dumps({"0": ["two", "words"]}))
    ds = LowLightDataset(root, "train")
    assert ds.layout == "rawdiff-lowlight" and ds.labels == ["two words"]
    assert inspect_dataset(root).layout == "lowlight" and locate_lowlight(root).kind == "lowlight"
    (tmp_path / "wrap" / "dataset").mkdir(parents=True)          # dataset/ is looked into for LOL only
    root.rename(tmp_path / "wrap" / "dataset" / "syn")
    assert locate_lowlight(tmp_path / "wrap") is None


def test_sha256_list_function_and_cli(tmp_path, capsys):
    lol = _lol(tmp_path / "lol")
    table = lol_sha256(lol)
    assert list(table)[:3] == ["our485/low/1.png", "our485/low/2.png", "our485/low/10.png"]
    assert len(table) == 10 and list(table)[-1] == "eval15/high/22.png"
    assert table["eval15/low/22.png"] == hashlib.sha256((lol / "eval15/low/22.png").read_bytes()).hexdigest()
    assert list(lol_sha256(lol, ["test"])) == [k for k in table if k.startswith("eval15/")]
    assert main(["data", "check", str(lol), "--sha256", "-"]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines() == [f"{h}  {p}" for p, h in table.items()]      # `sha256sum -c` format
    assert cap.err.startswith("OK: lol")
    dest = tmp_path / "out" / "lol.sha256"
    assert main(["data", "check", str(lol), "--sha256", str(dest)]) == 0
    assert dest.read_text() == cap.out and "sha256 of 10 files" in capsys.readouterr().out
    (lol / "eval15" / "high" / "1.png").write_bytes(b"changed")
    assert lol_sha256(lol, ["test"])["eval15/high/1.png"] == hashlib.sha256(b"changed").hexdigest()


def test_ensure_datasets_only_lowlight_synthesises_no_phone_set(tmp_path, capsys):
    data = _lol(tmp_path / "checkout" / "dataset", mirror=True)
    cache = tmp_path / "cache"
    assert ensure_datasets(DataConfig(), data_root=tmp_path / "checkout", cache_dir=cache, only="lowlight") == \
        (None, data)
    assert not cache.exists() and "synthetic" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="only must be"):
        ensure_datasets(DataConfig(), data_root=data, only="lol")


# ------------------------------------------------------------------------------------------ not LOL
def _check_fails(root: Path, capsys, *needles: str) -> None:
    assert main(["data", "check", str(root)]) == 1
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, err


def test_missing_high_or_normal(tmp_path, capsys):
    lol = _lol(tmp_path / "a")
    for p in (lol / "our485" / "high").iterdir():
        p.unlink()
    (lol / "our485" / "high").rmdir()
    with pytest.raises(DataError) as e:
        LowLightDataset(lol, "train")
    assert _one_line(e).startswith(f"{lol / 'our485' / 'high'}: missing")
    assert len(LowLightDataset(lol, "test")) == 2                         # the other split still reads
    _check_fails(lol, capsys, f"{lol / 'our485' / 'high'}: missing")
    mirror = tmp_path / "b"
    _png(mirror / "train" / "low" / "1.png", np.random.default_rng(0))
    with pytest.raises(DataError) as e:
        LowLightDataset(mirror, "train")
    assert "no high/ (rawdiff synthetic) or normal/ (LOL mirror)" in _one_line(e)
    assert main(["data", "check", str(mirror)]) == 2                      # not a layout at all: usage error
    assert "normal/" in capsys.readouterr().err
    (mirror / "train" / "high").mkdir()
    (mirror / "train" / "normal").mkdir()
    with pytest.raises(DataError, match="both high/ and normal/"):
        LowLightDataset(mirror, "train")


def test_unmatched_names(tmp_path, capsys):
    lol = _lol(tmp_path / "lol", mirror=True)
    (lol / "test" / "normal" / "22.png").rename(lol / "test" / "normal" / "23.png")
    with pytest.raises(DataError) as e:
        LowLightDataset(lol, "test")
    msg = _one_line(e)
    assert msg.startswith(f"{lol / 'test' / 'low' / '22.png'}: no matching {lol / 'test' / 'normal' / '22.png'}")
    assert "1 more problem" in msg
    _check_fails(lol, capsys, "2 problem(s)", "test/normal/23.png: no matching")


def test_non_image_files(tmp_path, capsys):
    lol = _lol(tmp_path / "lol")
    (lol / "eval15" / "low" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError) as e:
        LowLightDataset(lol, "test")
    assert _one_line(e) == f"{lol / 'eval15' / 'low' / 'notes.txt'}: not a PNG image; low/ must hold only the .png " \
                           f"images of the pairs"
    with pytest.raises(DataError, match="notes.txt: not a PNG"):
        lol_sha256(lol)
    _check_fails(lol, capsys, "notes.txt: not a PNG image")
    (lol / "eval15" / "low" / "notes.txt").unlink()
    (lol / "eval15" / "high" / "22.png").write_bytes(b"\x89PNG but truncated")   # named .png, not readable
    assert len(LowLightDataset(lol, "test")) == 2              # the constructor decodes nothing ...
    _check_fails(lol, capsys, "eval15/high/22.png")            # ... the checker decodes every image
    rng = np.random.default_rng(3)
    _png(lol / "eval15" / "high" / "22.png", rng, (8, 14))     # readable, but not its pair's size
    _check_fails(lol, capsys, "eval15/high/22.png: expected 12x8 (WxH) to match 22.png, got 14x8")


def test_not_a_low_light_folder(tmp_path, capsys):
    (tmp_path / "junk" / "photos").mkdir(parents=True)
    with pytest.raises(DataError) as e:
        LowLightDataset(tmp_path / "junk", "train")
    assert "not a low-light dataset; expected our485|eval15/low|high" in _one_line(e)
    with pytest.raises(DataError, match="does not exist"):
        LowLightDataset(tmp_path / "nope", "train")
    assert main(["data", "check", str(tmp_path / "junk")]) == 2
    assert "train|test/low|normal" in capsys.readouterr().err
    both = _lol(tmp_path / "both")
    _png(both / "train" / "low" / "1.png", np.random.default_rng(0))
    with pytest.raises(DataError, match="holds both our485"):
        LowLightDataset(both, "train")


# ------------------------------------------------------------------------------------------ notebook 05
def _cells_of_05(dest: Path) -> Path:
    """notebooks/05 cut to its parameters, set-up (ensure_datasets), training (tail model) and cascade evaluation
    (ILVR ablation) cells, written as ``dest/05_did_cascade.ipynb``: the second model, tiling and few-step OCR
    sections only repeat the same data path at several times the cost."""
    import nbformat

    nb = nbformat.read(str(ROOT / "notebooks" / "05_did_cascade.ipynb"), as_version=4)
    wanted = ("ensure_datasets(", 'get_or_train(DID, preset, lowlight_root, normalization="tail"', "ilvr_settings(")
    code = [c for c in nb.cells if c.cell_type == "code"]
    keep = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    for needle in wanted:
        hits = [c for c in code if needle in c.source]
        assert len(hits) == 1, f"notebook 05 changed: {len(hits)} cells hold {needle!r}"
        keep += hits
    nb.cells = keep
    dest.mkdir(parents=True)
    nbformat.write(nb, str(dest / "05_did_cascade.ipynb"))
    return dest


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_notebook_05_trains_and_evaluates_on_a_lol_folder(tmp_path):
    """Notebook 05's training and evaluation cells at ``smoke`` through ``data_root`` = a folder holding
    ``LOL/our485|eval15``, run by rawdiff.reproduce (papermill) as ``rawdiff reproduce --only 05`` runs them: the DiD
    net trains on the LOL pairs (``train_steps`` = 20, not smoke's 300: the data path is what is tested) and its cascade
    is scored on the eval15 images; no phone-RAW set is synthesised."""
    from rawdiff.reproduce import reproduce
    from rawdiff.runs.store import data_digest

    data_root = tmp_path / "data"
    _lol(data_root / "LOL", hw=(128, 192), names={"train": [str(i) for i in range(1, 5)], "test": ["1", "22"]})
    cache, figs = tmp_path / "cache", tmp_path / "figs"
    t0 = time.perf_counter()
    reproduce(only="05", data_root=str(data_root), device="cpu", notebooks_dir=_cells_of_05(tmp_path / "nbs"),
              out_dir=figs, build_dir=tmp_path / "build", progress=False, scorecard=False, html=False, log=None,
              params={"cache_dir": str(cache), "n_eval": 2, "n_show": 1, "train_steps": 20})
    print(f"notebook 05 (training + cascade evaluation cells) on a LOL-layout folder: {time.perf_counter() - t0:.0f} s")
    rows = (figs / "05_ilvr_per_image.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 2, rows                                  # k in {0, 3, 6, 18} x 2 eval15 images
    assert sorted({r.split(",")[2] for r in rows[1:]}) == ["1", "22"], rows
    assert (figs / "05_cascade_scales.png").is_file()
    runs = [json.loads(p.read_text()) for p in cache.rglob("run.json")]
    assert [r["kind"] for r in runs] == ["did"], runs
    assert runs[0]["steps"] == 20, runs                                  # train_steps reaches get_or_train
    assert runs[0]["data_digest"] == data_digest(data_root / "LOL")       # trained on the LOL pairs
    assert not (cache / "data").exists()                                 # nothing synthesised
