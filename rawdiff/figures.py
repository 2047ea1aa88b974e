"""Write figures and tables deterministically (same inputs -> byte-identical files) into ``figures/``.

Notebooks call :func:`save_figure` / :func:`save_table`; ``rawdiff reproduce`` hashes what they wrote into
``figures/MANIFEST.json``.  File names start with the notebook number (``03_loss_curves.png``) so the manifest
can map each file back to its notebook.

Inside a Jupyter kernel (JupyterLab, papermill, nbval) :func:`save_figure` also shows the saved PNG inline (so an
executed notebook holds its figures whatever ``MPLBACKEND`` is: the Makefile sets ``Agg``, under which matplotlib
itself shows nothing) and :func:`show_table` renders a table as Markdown; :func:`save_figure` and
:func:`save_table` return ``None`` there, so a cell never ends by echoing a path.  Elsewhere (scripts, tests,
benchmarks) they return the written paths and :func:`show_table` prints the Markdown.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rawdiff.utils import atomic_write_bytes, atomic_write_text


def _in_kernel() -> bool:
    """True when running inside a Jupyter kernel (an IPython shell with a kernel: JupyterLab, papermill, nbval);
    a plain script or a terminal IPython is not one.  Never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def save_figure(fig, out_dir: str | os.PathLike, name: str, dpi: int = 110) -> Path | None:
    """Save a matplotlib figure as ``out_dir/name.png`` without timestamps/version metadata.

    Returns the path; inside a Jupyter kernel it instead displays those PNG bytes inline, closes ``fig`` (so the
    inline backend does not show it a second time) and returns ``None`` (the path is ``out_dir/name.png``).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    path = atomic_write_bytes(Path(out_dir) / f"{name}.png", buf.getvalue())
    if not _in_kernel():
        return path
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    display(Image(data=buf.getvalue(), format="png"))
    plt.close(fig)
    return None


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1e6 else f"{v:.{digits}g}"
    return "" if v is None else str(v)


def to_markdown(rows: Sequence[Mapping[str, Any]], digits: int = 4, columns: Iterable[str] | None = None) -> str:
    """GitHub Markdown table of ``rows`` (list of dicts).

    Cells holding ``"unavailable: <reason>"`` are shown as ``unavailable (n)`` and each distinct reason is listed
    once under the table, so a metric without weights does not drown the numbers (the CSV keeps the full text).
    """
    rows = list(rows)
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    notes: dict[str, int] = {}

    def cell(v: Any) -> str:
        text = _fmt(v, digits)
        if text.startswith("unavailable:"):
            n = notes.setdefault(text, len(notes) + 1)
            return f"unavailable ({n})"
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    if notes:
        lines += [""] + [f"({n}) {text}  " for text, n in notes.items()]
    return "\n".join(lines)


def show_table(rows: Sequence[Mapping[str, Any]], digits: int = 4, columns: Iterable[str] | None = None) -> None:
    """Show ``rows`` as a table: a Markdown display output inside a Jupyter kernel (rendered by JupyterLab and by
    nbconvert's HTML), else print the Markdown text.  Same arguments as :func:`to_markdown`."""
    md = to_markdown(rows, digits, columns)
    if not _in_kernel():
        print(md)
        return
    from IPython.display import Markdown, display

    display(Markdown(md))


def save_table(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, name: str,
               columns: Iterable[str] | None = None, digits: int = 4,
               title: str | None = None) -> tuple[Path, Path] | None:
    """Write ``rows`` (list of dicts) as ``name.csv`` (full values) and ``name.md`` (see :func:`to_markdown`).

    Returns both paths; ``None`` inside a Jupyter kernel, so a cell never ends by echoing them (a notebook shows
    the rows it wants with :func:`show_table`: some saved tables are long per-image listings)."""
    rows = list(rows)
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    # the csv module quotes cells with commas, quotes or newlines (OCR predictions can hold any of them)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    writer.writerows([_fmt(r.get(c), 6) for c in cols] for r in rows)
    md = (f"### {title}\n\n" if title else "") + to_markdown(rows, digits, cols)
    out = Path(out_dir)
    paths = (atomic_write_text(out / f"{name}.csv", buf.getvalue()), atomic_write_text(out / f"{name}.md", md + "\n"))
    return None if _in_kernel() else paths


def image_grid(images: Sequence[Sequence[Any]], *, col_titles: Sequence[str] | None = None,
               row_titles: Sequence[str] | None = None, xlabels: Sequence[Sequence[str]] | None = None,
               xlabel_colors: Sequence[Sequence[str]] | None = None, title: str | None = None,
               cell: tuple[float, float] = (2.2, 2.3), grid_lines: int | None = None):
    """One matplotlib figure showing ``images[r][c]`` (``3 x H x W`` tensors in [0, 1], or ``None`` = blank)
    in a grid, with optional column titles, row labels, per-image x labels (e.g. recognised text, coloured by
    ``xlabel_colors``) and faint lines every ``grid_lines`` px (e.g. tile borders).  Returns the figure."""
    import matplotlib.pyplot as plt

    n_r, n_c = len(images), max((len(r) for r in images), default=1)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell[0] * n_c, cell[1] * n_r), squeeze=False)
    for r in range(n_r):
        for c in range(n_c):
            ax = axes[r, c]
            ax.set_xticks([]); ax.set_yticks([])
            im = images[r][c] if c < len(images[r]) else None
            if im is None:
                ax.axis("off")
                continue
            ax.imshow(im.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            if grid_lines:
                for b in range(grid_lines, im.shape[-1], grid_lines):
                    ax.axvline(b - 0.5, color="w", lw=0.3, alpha=0.5)
                for b in range(grid_lines, im.shape[-2], grid_lines):
                    ax.axhline(b - 0.5, color="w", lw=0.3, alpha=0.5)
            if r == 0 and col_titles is not None and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=8)
            if c == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[r], fontsize=7)
            if xlabels is not None:
                color = xlabel_colors[r][c] if xlabel_colors is not None else "k"
                ax.set_xlabel(xlabels[r][c], fontsize=7, color=color)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
