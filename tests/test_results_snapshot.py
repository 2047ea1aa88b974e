"""The committed ``results/study`` snapshot and the snapshot / verify / compare tools (rawdiff/results.py).

The first tests check the committed snapshot's manifest (hashes match files, every claim row parses, every
listed figure exists, provenance recorded); they do not re-run the study scale.  The rest build a tiny
reproduce output folder and exercise make_snapshot / verify_snapshot / compare on it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawdiff import results as R
from rawdiff.cli import main
from rawdiff.reproduce import NotebookRun, write_manifest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "results" / "study"


# ------------------------------------------------------------------------------ the committed snapshot
def test_committed_study_snapshot_verifies():
    assert (STUDY / R.MANIFEST).is_file(), "results/study/MANIFEST.json is missing (make it with `rawdiff results snapshot`)"
    assert R.verify_snapshot(STUDY) == []


def test_committed_study_snapshot_provenance_and_size():
    man = json.loads((STUDY / R.MANIFEST).read_text())
    assert man["scale"] == "study" and man["complete"] is True
    assert man["git_commit"] and man["machine"]["device"] and man["machine"]["date"]
    assert sorted(man["notebooks"]) == [p.stem for p in sorted((ROOT / "notebooks").glob("0*.ipynb"))]
    for name, nb in man["notebooks"].items():
        assert nb["seconds"] > 0 and nb["parameters"]["scale"] == "study", name
    figures = [n for n in man["files"] if n.endswith(".png")]
    assert 1 <= len(figures) <= R.MAX_FIGURES + 1     # key figures + the budget curves drawn by the snapshot
    for name, entry in man["files"].items():
        assert (STUDY / name).is_file()
        assert entry.get("notebook") or entry.get("generated_by"), name
    assert sum(f.stat().st_size for f in STUDY.iterdir()) < 3_000_000
    rows = R.parse_scorecard((STUDY / "claims.md").read_text())
    assert [r["verdict"] for r in rows] == [c["verdict"] for c in man["claims"]]
    assert all(r["verdict"] != "not run" for r in rows)


def test_readme_results_section_quotes_the_snapshot_verdicts():
    readme = (ROOT / "README.md").read_text()
    assert "results/study" in readme and "--check results/study" in readme
    man = json.loads((STUDY / R.MANIFEST).read_text())
    section = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    for c in man["claims"]:
        assert c["verdict"] in section, c["claim"]


# ------------------------------------------------------------------------------ tools on a tiny run
def _fake_run(out: Path, swapped_to_c: float = 2.0, raw_ssim: float = 0.8) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "03_condition_ablation.csv").write_text(
        f"condition,psnr,ssim,color_error\nnone,20.0,0.5,9.0\nraw,22.0,{raw_ssim:g},6.0\nraw+c,23.0,0.85,3.0\n")
    (out / "03_plug_and_play.csv").write_text(
        "c_source,color_dist_to_c,color_dist_to_source,n,luma_ssim_to_own,luma_ssim_to_own_lo,luma_ssim_to_own_hi\n"
        f"own,1.0,1.0,8,1,1,1\nswapped,{swapped_to_c:g},10.0,8,0.9,0.88,0.92\nbaseline,0.0,10.0,8,0.5,0.4,0.6\n")
    from PIL import Image

    Image.new("RGB", (1600, 400), (30, 60, 90)).save(out / "03_plug_and_play.png")
    Image.new("RGB", (64, 64)).save(out / "03_not_a_key_figure.png")
    from rawdiff.claims.scorecard import write_scorecard

    write_scorecard(out)
    nb = ROOT / "notebooks" / "03_diffraw_training.ipynb"
    files = tuple(sorted(p.name for p in out.iterdir() if p.name.startswith("03_")))
    write_manifest(out, [NotebookRun(nb.stem, nb, out / "x.ipynb", 12.5, {"scale": "smoke"}, files)], "abc123",
                   scale="smoke", extra_files={"claims.md": "rawdiff.claims.scorecard.write_scorecard"},
                   machine={"device": "cpu (test)", "date": "2026-01-01T00:00:00Z"})
    return out


def test_snapshot_copies_tables_and_key_figures_downscaled(tmp_path):
    run = _fake_run(tmp_path / "run")
    R.make_snapshot(run, tmp_path / "snap")
    snap = tmp_path / "snap"
    names = sorted(p.name for p in snap.iterdir())
    assert "03_plug_and_play.png" in names and "03_not_a_key_figure.png" not in names
    assert "03_condition_ablation.csv" in names and "claims.md" in names
    from PIL import Image

    with Image.open(snap / "03_plug_and_play.png") as im:
        assert max(im.size) == R.FIGURE_MAX_SIDE
    man = json.loads((snap / R.MANIFEST).read_text())
    assert man["notebooks"]["03_diffraw_training"]["seconds"] == 12.5
    assert man["files"]["03_plug_and_play.csv"]["notebook"] == "03_diffraw_training"
    assert man["files"]["03_plug_and_play.png"]["source_sha256"]
    verdicts = {c["claim"]: c["verdict"] for c in man["claims"]}
    assert "holds" in verdicts.values() and "not run" in verdicts.values()
    assert R.verify_snapshot(snap) == []


def test_snapshot_draws_every_claims_budget_curves_in_one_figure(tmp_path):
    run = _fake_run(tmp_path / "run")
    R.make_snapshot(run, tmp_path / "plain")
    assert not (tmp_path / "plain" / R.BUDGET_FIGURE).exists()      # no budget rows, no figure
    (run / "03_budget_effects.csv").write_text("claim,comparison,budget,diff,lo,hi\n" + "".join(
        f"{c},x,{b},{d},{d - 0.1},{d + 0.1}\n" for c in ("raw_structure", "colour_condition")
        for b, d in ((10, 0.1), (20, 0.2), (40, 0.3))))
    man = json.loads((run / "MANIFEST.json").read_text())
    man["files"]["03_budget_effects.csv"] = {"notebook": "03_diffraw_training", "sha256": "-", "size": 1}
    (run / "MANIFEST.json").write_text(json.dumps(man))
    R.make_snapshot(run, tmp_path / "snap")
    from PIL import Image

    with Image.open(tmp_path / "snap" / R.BUDGET_FIGURE) as im:
        assert min(im.size) > 100
    entry = json.loads((tmp_path / "snap" / R.MANIFEST).read_text())["files"][R.BUDGET_FIGURE]
    assert "budget_effects" in entry["generated_by"]
    assert R.verify_snapshot(tmp_path / "snap") == []


def test_verify_reports_tampering_extra_and_missing_files(tmp_path):
    snap = tmp_path / "snap"
    R.make_snapshot(_fake_run(tmp_path / "run"), snap)
    (snap / "03_plug_and_play.csv").write_text("c_source,color_dist_to_c,color_dist_to_source\nswapped,20,1\n")
    (snap / "stray.txt").write_text("x")
    (snap / "03_condition_ablation.csv").unlink()
    problems = "\n".join(R.verify_snapshot(snap))
    assert "03_plug_and_play.csv: sha256 differs" in problems
    assert "stray.txt: in the folder but not in the manifest" in problems
    assert "03_condition_ablation.csv: listed in the manifest but missing" in problems
    assert "verdicts differ" in problems           # the tampered CSV flips the plug-and-play verdict


def test_incomplete_run_is_refused(tmp_path):
    run = _fake_run(tmp_path / "run")
    man = json.loads((run / R.MANIFEST).read_text())
    man["complete"] = False
    (run / R.MANIFEST).write_text(json.dumps(man))
    with pytest.raises(R.DataError, match="incomplete"):
        R.make_snapshot(run, tmp_path / "snap")


def test_compare_identical_within_tolerance_and_changed_verdict(tmp_path):
    snap = tmp_path / "snap"
    R.make_snapshot(_fake_run(tmp_path / "run"), snap)
    same = R.compare(snap, tmp_path / "run")
    assert all(c.ok for c in same)
    assert {c.numbers.status for c in same if c.old != "not run"} == {"identical"}

    near = R.compare(snap, _fake_run(tmp_path / "near", swapped_to_c=2.05))
    pnp = next(c for c in near if c.table == "03_plug_and_play.csv")
    assert pnp.ok and pnp.numbers.status == "within tolerance" and pnp.numbers.max_abs == pytest.approx(0.05)

    timed = tmp_path / "timed"
    _fake_run(timed)
    table = timed / "03_plug_and_play.csv"
    table.write_text(table.read_text().replace("color_dist_to_source\n", "color_dist_to_source,sec_per_image\n")
                     .replace(",1.0\n", ",1.0,0.5\n").replace(",10.0\n", ",10.0,0.7\n"))
    snap_t = tmp_path / "snap_t"
    R.make_snapshot(timed, snap_t)
    table.write_text(table.read_text().replace(",0.5\n", ",0.9\n"))       # only a wall time moved
    assert R.compare_table(snap_t / table.name, table).status == "identical"

    flipped = R.compare(snap, _fake_run(tmp_path / "flip", swapped_to_c=12.0, raw_ssim=0.4))
    bad = [c for c in flipped if not c.ok]
    assert {c.table for c in bad} == {"03_plug_and_play.csv", "03_condition_ablation.csv"}
    assert all(c.numbers.status == "differs" for c in bad)
    assert sorted(c.claim.split()[1] for c in bad if not c.same_verdict) == ["RAW", "plug-and-play:"]
    only_04 = R.compare(snap, tmp_path / "flip", notebooks=["04"])
    assert {c.table for c in only_04} == {"04_dtdm_per_image.csv"} and all(c.ok for c in only_04)
    text = R.format_checks(flipped)
    assert "NO " in text and "claims reproduce" in text


def test_cli_compare_exit_status_and_scale_guard(tmp_path, capsys):
    snap = tmp_path / "snap"
    R.make_snapshot(_fake_run(tmp_path / "run"), snap)
    assert main(["results", "verify", str(snap)]) == 0
    assert main(["results", "compare", str(snap), str(tmp_path / "run")]) == 0
    assert main(["results", "compare", str(snap), str(_fake_run(tmp_path / "flip", swapped_to_c=12.0))]) == 1
    assert "NO " in capsys.readouterr().out
    assert main(["reproduce", "--scale", "study", "--check", str(snap)]) == 2
    assert "is a 'smoke' snapshot" in capsys.readouterr().err
    assert main(["results", "verify", str(tmp_path / "nowhere")]) == 1


def test_rejudge_rewrites_the_verdicts_from_the_snapshots_own_tables(tmp_path):
    import shutil

    snap = tmp_path / "study"
    shutil.copytree(STUDY, snap)
    before = json.loads((snap / R.MANIFEST).read_text())
    card = (snap / "claims.md").read_text()
    (snap / "claims.md").write_text(card.replace("**holds**", "**does not hold**", 1))
    assert R.verify_snapshot(snap)                       # a tampered scorecard is caught ...
    rows = R.rejudge_snapshot(snap, "test")
    assert R.verify_snapshot(snap) == []                 # ... and re-judged from the CSVs
    after = json.loads((snap / R.MANIFEST).read_text())
    assert [c["verdict"] for c in after["claims"]] == [r["verdict"] for r in rows]
    assert after["git_commit"] == before["git_commit"] and after["rejudged"][-1]["note"] == "test"
    assert {n: e["sha256"] for n, e in after["files"].items() if n != "claims.md"} == \
        {n: e["sha256"] for n, e in before["files"].items() if n != "claims.md"}
