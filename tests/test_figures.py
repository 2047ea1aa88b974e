"""Deterministic figure/table writing."""
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rawdiff.figures import save_figure, save_table, to_markdown  # noqa: E402


def test_save_table_writes_csv_and_readable_markdown(tmp_path):
    why = "unavailable: LPIPS needs weights"
    rows = [{"method": "a", "psnr": 20.123456, "lpips": why}, {"method": "b, c", "psnr": 21.0, "lpips": why}]
    csv_path, md_path = save_table(rows, tmp_path, "01_t", title="T")
    back = list(csv.DictReader(open(csv_path)))
    assert back[1]["method"] == "b, c" and back[0]["lpips"] == why and float(back[0]["psnr"]) == 20.123456
    md = md_path.read_text()
    assert md.startswith("### T") and "| a | 20.1235 | unavailable (1) |" in md
    assert md.count(why) == 1 and "(1) " + why in md


def test_csv_round_trips_quotes_commas_and_newlines(tmp_path):
    # OCR predictions are arbitrary text: a lone quote once made the study-scale per-word CSV unreadable
    preds = ['pretty"', '"strategv', '",seek', "a,b", "two\nlines", "'single'"]
    rows = [{"item": i, "pred": p, "correct": 0} for i, p in enumerate(preds)]
    csv_path, _ = save_table(rows, tmp_path, "06_t")
    back = list(csv.DictReader(open(csv_path, newline="")))
    assert [r["pred"] for r in back] == preds and [r["item"] for r in back] == [str(i) for i in range(len(preds))]


def test_markdown_escapes_pipes_and_numbers_distinct_reasons():
    md = to_markdown([{"x": "a|b", "m": "unavailable: one"}, {"x": "c", "m": "unavailable: two"}])
    assert "a\\|b" in md and "unavailable (1)" in md and "unavailable (2)" in md


def test_same_figure_same_bytes(tmp_path):
    def draw(path):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [1, 0, 2])
        out = save_figure(fig, path, "01_fig")
        plt.close(fig)
        return out.read_bytes()

    assert draw(tmp_path / "a") == draw(tmp_path / "b")


def test_image_grid_layout_and_blanks():
    import torch

    from rawdiff.figures import image_grid

    ims = [[torch.rand(3, 8, 16), None], [torch.zeros(3, 8, 16), torch.ones(3, 8, 16)]]
    fig = image_grid(ims, col_titles=["a", "b"], row_titles=["r0", "r1"], xlabels=[["x", ""], ["y", "z"]],
                     xlabel_colors=[["g", "k"], ["r", "g"]], title="t", grid_lines=4)
    axes = fig.axes
    assert len(axes) == 4 and axes[0].get_title() == "a" and axes[2].get_ylabel() == "r1"
    assert not axes[1].axison and axes[3].get_xlabel() == "z"
    plt.close(fig)
