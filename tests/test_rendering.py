"""The shared renderers: a figure as PNG bytes, a frame as a Markdown table."""

from __future__ import annotations

import polars as pl
import pytest

from likra.experiments import plots
from likra.rendering import figure_png, markdown_table, subplots
from pipelines.defs import metadata


def test_a_figure_renders_as_png_and_is_closed() -> None:
    import matplotlib.pyplot as plt

    figure, axis = subplots(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    png = figure_png(figure, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100
    assert plt.get_backend().lower() == "agg" and not plt.fignum_exists(figure.number)


def test_a_figure_is_closed_even_when_rendering_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    figure, _ = subplots()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        figure_png(figure)
    assert not plt.fignum_exists(figure.number)


def test_markdown_cells_stay_on_one_line_and_in_their_column() -> None:
    frame = pl.DataFrame({"a": [1, None], "b": ["x|y", "two\nlines"], "c": [[1, 2], None]})
    assert markdown_table(frame).splitlines() == [
        "| a   | b           | c      |",
        "|-----|-------------|--------|",
        "| 1   | x\\|y        | [1, 2] |",
        "|     | two ⏎ lines |        |",
    ]


def cells(table: str) -> list[str]:
    """The cells of a one-row table's row, unpadded."""
    return [cell.strip() for cell in table.splitlines()[2].strip("|").split("|")]


def test_markdown_cells_are_cut_at_the_width_and_floats_rounded() -> None:
    frame = pl.DataFrame({"text": ["abcdefghij"], "x": [0.123456]})
    assert cells(markdown_table(frame, width=5)) == ["abcd…", "0.12…"]
    assert cells(markdown_table(frame, width=None, digits=2)) == ["abcdefghij", "0.12"]


def test_the_experiments_and_the_dagster_metadata_share_the_renderer() -> None:
    frame = pl.DataFrame({"series": ["likra"], "acc": [0.123456], "note": ["n" * 100]})
    assert plots.table(frame) == markdown_table(frame, width=None, digits=3)  # reports keep whole cells
    assert metadata.markdown_table is markdown_table
