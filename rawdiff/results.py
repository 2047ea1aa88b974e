"""Committed results snapshots (``results/<scale>/``): make one from a ``rawdiff reproduce`` run, verify it,
and compare a new run with it (``rawdiff reproduce --check results/study``).

A snapshot is a small, self-contained copy of one reproduce run's output folder, in the spirit of
showyourwork's / Quarto manuscripts' "figures with provenance":

* ``claims.md`` and every CSV table (the claims are re-derivable from them: :func:`rawdiff.claims.scorecard.evaluate_claims`
  reads the same CSVs), the Markdown tables except the long per-image/per-word ones (their CSV is kept);
* at most :data:`MAX_FIGURES` key figures (:data:`KEY_FIGURES`), downscaled to :data:`FIGURE_MAX_SIDE` px;
* ``MANIFEST.json``: per file the notebook that wrote it, its parameters, the commit, sha256 and size (and the
  sha256 of the full-size figure it was downscaled from); per notebook its wall time, parameters and machine;
  the run's scale, device, date and total wall time; and the verdict of every claim;
* ``data`` in the manifest (issue 25): the sha256 of every image of the low-light / LOL pairs the run read
  (rawdiff.data.lol.lol_sha256), from a list given to :func:`make_snapshot` (``rawdiff data check DIR --sha256
  FILE`` writes one) or computed from the ``data_root`` the run's manifest records when that folder holds LOL,
  so a reader can check with rawdiff.snapshot_data.check_data (``rawdiff results verify SNAPSHOT --data-root
  DIR``) that they use the same LOL.

:func:`compare` lines a new run's claims up with a snapshot's and judges what each claim rests on (issue 24,
item 8): the verdict must be identical, and every comparison the verdict rests on (the effects the rule hands
back, rawdiff.claims.common.comparison) must be present with its effect within :data:`EFFECT_TOL` (25 %) of
that comparison's interval half-width in the snapshot, ``|new - old| <= 0.25 * (hi - lo) / 2``.  Same-device
reruns of the deterministic notebooks reproduce every number; other devices, thread counts or torch builds
change float rounding in training, and an effect that moves by a quarter of its own uncertainty is the same
result.  The per-image numbers of the claim's table are still compared cell by cell and *reported*
(identical / within ``atol + rtol |a|`` / differs) but not judged: thousands of per-image numbers at a fixed
tolerance are at once too loose for the effects (1.3 dB at 25 dB) and too strict for a faithful rerun.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rawdiff.claims.common import read_csv
from rawdiff.claims.scorecard import evaluate_claims, write_scorecard
from rawdiff.errors import DataError
from rawdiff.snapshot_data import data_entry
from rawdiff.utils import atomic_dir, atomic_write_text, git_commit, repo_root, sha256_file

MANIFEST = "MANIFEST.json"
#: The key figures a snapshot keeps (those present in the run; at most MAX_FIGURES).
KEY_FIGURES = ("01_phone_samples.png", "03_condition_ablation.png", "03_plug_and_play.png", "03_samples.png",
               "04_dtdm_per_image_distortion_vs_detail.png", "04_dtdm_steps_samples.png", "05_cascade_scales.png",
               "05_ilvr_ablation.png", "05_norm_ablation.png", "05_few_step.png", "06_ocr_accuracy.png",
               "06_ocr_examples.png", "05_fullsize_grid.png", "05_fullsize_cascade.png")
BUDGET_FIGURE = "budget_curves.png"   # all claims' budget curves, drawn by snapshot from the CSVs
MAX_FIGURES = 12    # the first MAX_FIGURES of KEY_FIGURES that the run has
FIGURE_MAX_SIDE = 900
#: Markdown tables at most this large are copied; longer ones (per-image rows) are represented by their CSV.
MAX_MD_BYTES = 32_000
RTOL, ATOL = 0.05, 0.05     # reported, not judged: per-image numbers within |a-b| <= atol + rtol|a|
EFFECT_TOL = 0.25           # judged: each effect within 25 % of its snapshot interval's half-width
VERDICT_RE = re.compile(r"\*\*(.+?)\*\*\s*\|\s*$")


def _read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataError(f"{folder}: no {MANIFEST} (not a reproduce output or results snapshot)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise DataError(f"{path}: not a rawdiff manifest (no 'files' object)")
    return data


def snapshot_scale(folder: str | Path) -> str | None:
    """The scale a snapshot (or reproduce output) folder was made at (raises DataError when unreadable)."""
    return _read_manifest(Path(folder)).get("scale")


def _downscale_png(src: Path, dest: Path, max_side: int) -> None:
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side), Image.LANCZOS)
        # a 256-colour palette (Floyd-Steinberg dithered) keeps the snapshot small; the full-size figure is
        # regenerated by the notebooks and identified by its sha256 in the manifest
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            dest, format="PNG", optimize=True)


def claim_rows(folder: str | Path) -> list[dict]:
    """The claims in ``folder`` re-derived from its CSVs: ``paper, claim, table, verdict, evidence``."""

    return [{"paper": r.claim.paper, "claim": r.claim.text, "table": r.claim.table, "verdict": r.verdict,
             "evidence": r.evidence, "comparisons": list(r.comparisons)} for r in evaluate_claims(folder)]


def make_snapshot(src: str | Path, dest: str | Path, *, figures=KEY_FIGURES, max_side: int = FIGURE_MAX_SIDE,
                  allow_incomplete: bool = False, data_sha256: dict[str, str] | str | Path | None = None,
                  data_root: str | Path | None = None) -> Path:
    """Copy the reproduce output ``src`` into the snapshot folder ``dest`` (replaced) and write its manifest
    (with the data's sha256 list, rawdiff.snapshot_data.data_entry, from ``data_sha256`` / ``data_root`` / the
    run's record).

    The snapshot is built in a temporary folder beside ``dest`` that replaces it only once complete
    (rawdiff.utils.atomic_dir): a failed write (disk full) leaves the previous snapshot and raises one line."""
    src, dest = Path(src), Path(dest)
    man = _read_manifest(src)
    if not man.get("complete") and not allow_incomplete:
        raise DataError(f"{src}: the run is incomplete (MANIFEST 'complete': false); re-run it or pass "
                        "allow_incomplete=True")
    data = data_entry(man, data_sha256, data_root)
    try:
        with atomic_dir(dest, overwrite=True) as out:
            _write_snapshot(src, man, out, figures, max_side, data)
    except OSError as err:
        raise DataError(f"{dest}: cannot write the snapshot ({err.strerror or err}); the previous one is kept"
                        ) from None
    return dest / MANIFEST


def _write_snapshot(src: Path, man: dict, dest: Path, figures, max_side: int, data: dict | None = None) -> None:
    files = {}
    figures = [f for f in figures if f in man["files"]][:MAX_FIGURES]
    for name, entry in sorted(man["files"].items()):
        f = src / name
        suffix = f.suffix.lower()
        keep = (suffix == ".csv" or name == "claims.md"
                or (suffix == ".md" and f.stat().st_size <= MAX_MD_BYTES)
                or (suffix == ".png" and name in figures))
        if not keep or not f.is_file():
            continue
        info = {k: entry[k] for k in ("notebook", "generated_by", "parameters", "git_commit") if k in entry}
        if suffix == ".png":
            _downscale_png(f, dest / name, max_side)
            info["source_sha256"] = entry.get("sha256")
        else:
            shutil.copyfile(f, dest / name)
        files[name] = {**info, "sha256": sha256_file(dest / name), "size": (dest / name).stat().st_size}
    if _write_budget_figure(dest):
        files[BUDGET_FIGURE] = {"generated_by": "rawdiff.results.snapshot (every *_budget_effects.csv, "
                                "rawdiff.claims.budget.budget_figure)", "sha256": sha256_file(dest / BUDGET_FIGURE),
                                "size": (dest / BUDGET_FIGURE).stat().st_size}
    notebooks = {k: {kk: v[kk] for kk in ("seconds", "parameters", "git_commit", "machine", "ok") if kk in v}
                 for k, v in man.get("notebooks", {}).items()}
    snapshot = {"scale": man.get("scale"), "git_commit": man.get("git_commit"),
                "rawdiff_version": man.get("rawdiff_version"), "complete": bool(man.get("complete")),
                "machine": man.get("machine"), "seconds_total": man.get("seconds_total"),
                "notebooks": notebooks, "files": files, **({"data": data} if data is not None else {}),
                "claims": [{k: r[k] for k in ("paper", "claim", "table", "verdict")} for r in claim_rows(dest)]}
    atomic_write_text(dest / MANIFEST, json.dumps(snapshot, indent=2) + "\n")


def _write_budget_figure(folder: Path) -> bool:
    """Every claim's budget curves in one figure (issue 24): the rows of all ``*_budget_effects.csv`` in ``folder``
    (rawdiff.claims.budget), one panel per (claim, comparison), saved as :data:`BUDGET_FIGURE`.  False when the
    folder has no budget rows."""
    import matplotlib.pyplot as plt

    from rawdiff.claims.budget import BUDGET_GLOB, budget_figure

    rows = [r for p in sorted(folder.glob(BUDGET_GLOB)) for r in read_csv(p)]
    if not rows:
        return False
    fig = budget_figure(rows)
    fig.suptitle("Every claim's effect at 1/4, 1/2 and all of its training steps (95% intervals; > 0 favours the "
                 "paper's method)", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / BUDGET_FIGURE, dpi=110)
    plt.close(fig)
    return True


def rejudge_snapshot(folder: str | Path, note: str) -> list[dict]:
    """Re-judge a committed snapshot's own CSVs under the claim rules of this code: rewrite ``claims.md``
    (rawdiff.claims.scorecard.write_scorecard) and the manifest's ``claims`` and ``claims.md`` entry, recording
    ``rejudged`` (commit, date, ``note``) beside the run's own provenance, which is kept.  Nothing is re-run and no
    table changes; the new verdicts are returned."""
    import datetime as _dt

    folder = Path(folder)
    man = _read_manifest(folder)
    card = write_scorecard(folder)
    rows = claim_rows(folder)
    entry = man["files"].get("claims.md", {})
    man["files"]["claims.md"] = {**entry, "sha256": sha256_file(card), "size": Path(card).stat().st_size}
    man["claims"] = [{k: r[k] for k in ("paper", "claim", "table", "verdict")} for r in rows]
    man.setdefault("rejudged", []).append({"git_commit": git_commit(repo_root()), "note": note,
                                           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    atomic_write_text(folder / MANIFEST, json.dumps(man, indent=2) + "\n")
    return rows


def parse_scorecard(text: str) -> list[dict]:
    """The rows of a ``claims.md`` table: ``paper, claim, evidence, shown, verdict`` (raises DataError)."""
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.startswith("| ") or line.startswith("| paper |"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        m = VERDICT_RE.search(line)
        if len(cells) not in (5, 6) or not m:      # 6: with the "with training" column (rawdiff.claims.budget)
            raise DataError(f"claims.md line {i}: not a 5- or 6-column claim row with a **verdict**: {line[:80]}")
        rows.append({"paper": cells[0], "claim": cells[1].replace("\\|", "|"), "evidence": cells[2],
                     "shown": cells[3], "verdict": m.group(1)})
    return rows


def verify_snapshot(folder: str | Path) -> list[str]:
    """Problems with a snapshot folder (empty list = fine): manifest hashes and sizes match the files, every
    file is listed, every claims.md row parses, and the verdicts re-derived from the CSVs equal claims.md's
    and the manifest's.  Does not re-run anything."""
    folder = Path(folder)
    try:
        man = _read_manifest(folder)
    except DataError as err:
        return [str(err)]
    problems = []
    for name, entry in man["files"].items():
        f = folder / name
        if not f.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
        elif sha256_file(f) != entry.get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
        elif f.stat().st_size != entry.get("size"):
            problems.append(f"{name}: size differs from the manifest")
    for f in sorted(folder.iterdir()):
        if f.name != MANIFEST and f.name not in man["files"]:
            problems.append(f"{f.name}: in the folder but not in the manifest")
    if not (folder / "claims.md").is_file():
        return problems + ["claims.md: missing"]
    try:
        card = parse_scorecard((folder / "claims.md").read_text())
    except DataError as err:
        return problems + [str(err)]
    derived = claim_rows(folder)
    if [r["verdict"] for r in card] != [r["verdict"] for r in derived]:
        problems.append("claims.md verdicts differ from the ones re-derived from the CSVs: "
                        f"{[r['verdict'] for r in card]} vs {[r['verdict'] for r in derived]}")
    if [c.get("verdict") for c in man.get("claims", [])] != [r["verdict"] for r in derived]:
        problems.append("manifest claim verdicts differ from the ones re-derived from the CSVs")
    for r in card:
        for shown in re.findall(r"`([^`]+)`", r["shown"]):
            if shown.endswith(".csv") and not (folder / shown).is_file():
                problems.append(f"claims.md names {shown}, which the snapshot lacks")
    return problems


def _num(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v


def _is_time(col: str) -> bool:
    return col.startswith("sec") or col.endswith(("_s", "_seconds")) or col in ("seconds", "time")


@dataclass
class TableDiff:
    """How one CSV table of a new run compares with the snapshot's."""

    name: str
    status: str                    # "identical" | "within tolerance" | "differs" | "missing" | "not run"
    n_numbers: int = 0
    n_outside: int = 0
    n_changed: int = 0             # numbers whose printed value differs at all (wall times excluded)
    max_abs: float = 0.0
    notes: list[str] = field(default_factory=list)


def compare_table(old: Path, new: Path, rtol: float = RTOL, atol: float = ATOL) -> TableDiff:
    """Cell by cell: text cells must be equal, numbers within ``atol + rtol * |old|``."""
    if not new.is_file():
        return TableDiff(old.name, "missing", notes=[f"{new} not found"])
    if old.read_bytes() == new.read_bytes():
        n = sum(_num(v) is not None for r in read_csv(old) for v in r.values())
        return TableDiff(old.name, "identical", n)
    a, b = read_csv(old), read_csv(new)
    d = TableDiff(old.name, "within tolerance")
    if len(a) != len(b) or (a and list(a[0]) != list(b[0])):
        d.status = "differs"
        d.notes.append(f"shape {len(a)} rows {list(a[0]) if a else []} vs {len(b)} rows {list(b[0]) if b else []}")
        return d
    for i, (ra, rb) in enumerate(zip(a, b)):
        for col, va in ra.items():
            if _is_time(col):
                continue               # wall times are machine properties, not results
            vb = rb.get(col)
            xa, xb = _num(va), _num(vb)
            if xa is None or xb is None:
                if (va or "") != (vb or ""):
                    d.n_outside += 1
                    if len(d.notes) < 5:
                        d.notes.append(f"row {i + 1} {col}: {va!r} vs {vb!r}")
                continue
            d.n_numbers += 1
            if va != vb:
                d.n_changed += 1
            if math.isnan(xa) and math.isnan(xb):
                continue
            gap = abs(xa - xb)
            d.max_abs = max(d.max_abs, gap) if math.isfinite(gap) else math.inf
            if not gap <= atol + rtol * abs(xa):
                d.n_outside += 1
                if len(d.notes) < 5:
                    d.notes.append(f"row {i + 1} {col}: {va} vs {vb}")
    if d.n_outside:
        d.status = "differs"
    elif not d.n_changed:
        d.status = "identical"     # every result cell equal as printed; only wall-time columns moved
    return d


@dataclass
class EffectCheck:
    """One comparison of a claim: snapshot effect and half-width, the new effect (None when missing)."""

    name: str
    old: float
    half_width: float
    new: float | None

    @property
    def ok(self) -> bool:
        if self.new is None:
            return False
        if self.old == self.new:                                   # identical (also +-inf read-offs)
            return True
        gap = abs(self.new - self.old)
        return math.isfinite(gap) and gap <= EFFECT_TOL * self.half_width + 1e-12


def check_effects(old: list[dict], new: list[dict]) -> list[EffectCheck]:
    """:class:`EffectCheck` per comparison of the snapshot's claim (``old``), matched by name in ``new``."""
    by_name = {c["name"]: c for c in new}
    out = []
    for c in old:
        half = (c["hi"] - c["lo"]) / 2 if math.isfinite(c["hi"] - c["lo"]) else math.inf
        m = by_name.get(c["name"])
        out.append(EffectCheck(c["name"], c["diff"], half, None if m is None else m["diff"]))
    return out


@dataclass
class ClaimCheck:
    paper: str
    claim: str
    table: str
    old: str
    new: str
    numbers: TableDiff
    effects: list[EffectCheck] = field(default_factory=list)

    @property
    def same_verdict(self) -> bool:
        return self.old == self.new

    @property
    def ok(self) -> bool:
        """Judged: the same verdict and every effect within :data:`EFFECT_TOL` of its half-width.  The table's
        per-image numbers (``numbers``) are reported only."""
        return self.same_verdict and all(e.ok for e in self.effects)


def compare(snapshot: str | Path, new_dir: str | Path, *, rtol: float = RTOL, atol: float = ATOL,
            notebooks: list[str] | None = None) -> list[ClaimCheck]:
    """Per claim of the snapshot: the new run's verdict and effects (re-derived from its CSVs), and its table's
    numbers (reported, not judged).

    ``notebooks`` (number prefixes such as ``["03", "04"]``, as ``reproduce --only`` takes) limits the check to
    the claims whose table those notebooks write — a partial re-run checks only what it re-ran."""
    snapshot, new_dir = Path(snapshot), Path(new_dir)
    _read_manifest(snapshot)
    if not new_dir.is_dir():
        raise DataError(f"{new_dir}: no such run folder to compare with {snapshot}")
    old_claims = claim_rows(snapshot)
    new_claims = {(r["paper"], r["claim"]): r for r in claim_rows(new_dir)}
    out = []
    if notebooks is not None:
        old_claims = [r for r in old_claims if r["table"][:2] in {str(n)[:2] for n in notebooks}]
    for r in old_claims:
        n = new_claims.get((r["paper"], r["claim"]), {"verdict": "not in this version", "comparisons": []})
        table = r["table"]
        if (snapshot / table).is_file():
            diff = compare_table(snapshot / table, new_dir / table, rtol, atol)
        else:
            diff = TableDiff(table, "not run")      # the snapshot's run did not make this table either
        out.append(ClaimCheck(r["paper"], r["claim"], table, r["verdict"], n["verdict"], diff,
                              check_effects(r["comparisons"], n["comparisons"])))
    return out


def format_checks(checks: list[ClaimCheck], rtol: float = RTOL, atol: float = ATOL) -> str:
    lines = [f"{'ok':4s}  {'effects':9s}  {'numbers (reported)':18s}  claim (snapshot verdict -> new verdict)"]
    for c in checks:
        num = c.numbers.status
        if c.numbers.status != "identical" and c.numbers.n_numbers:
            num += f" (max |d| {c.numbers.max_abs:.3g}, {c.numbers.n_outside}/{c.numbers.n_numbers} outside)"
        eff = f"{sum(e.ok for e in c.effects)}/{len(c.effects)}"
        lines.append(f"{'yes' if c.ok else 'NO':4s}  {eff:9s}  {num:18s}  [{c.paper}] {c.claim}: {c.old} -> {c.new}")
        for e in c.effects:
            if not e.ok:
                new = "missing" if e.new is None else f"{e.new:+.4g}"
                lines.append(f"        effect {e.name}: {e.old:+.4g} -> {new} (allowed +-{EFFECT_TOL:g} x half-width "
                             f"{e.half_width:.4g})")
        lines += [f"        {note}" for note in c.numbers.notes[:3]]
    n_ok = sum(c.ok for c in checks)
    lines.append(f"{n_ok}/{len(checks)} claims reproduce (same verdict; every effect within {EFFECT_TOL:g} x its "
                 f"interval half-width; per-image numbers reported against |a-b| <= {atol:g} + {rtol:g}|a|, not "
                 "judged; wall times are not compared)")
    return "\n".join(lines)
