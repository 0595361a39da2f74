"""The shared renderers of the reports and the Dagster metadata: a matplotlib figure as PNG bytes and a
polars frame as a Markdown table.

They live in `likra`, the lowest package all their users import (`mining` and `pipelines` import `likra`;
`warehouse` renders neither).
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def subplots(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """`pyplot.subplots` on the Agg backend, so figures render without a display (servers, workers, CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def figure_png(figure: Figure, dpi: int = 90) -> bytes:
    """The figure laid out tightly and rendered as PNG bytes; the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    try:
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()
    finally:
        plt.close(figure)  # pyplot keeps every open figure alive; a long-running Dagster process would leak them


def cell_text(value: object) -> str:
    """A value as the text of a table cell: lists and dicts as JSON, None as nothing, anything else as str()."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def clipped(text: str, width: int | None) -> str:
    """The text cut to `width` characters, the last of them an ellipsis (None: never cut)."""
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _cell(value: object, width: int | None) -> str:
    # A raw newline or pipe would end the row or split the cell and break the whole table.
    return clipped(cell_text(value).replace("\n", " ⏎ ").replace("|", "\\|"), width)


def markdown_table(frame: pl.DataFrame, width: int | None = 80, digits: int | None = None) -> str:
    """The frame as a GitHub Markdown table: one line per row, cells cut at `width`, floats rounded to `digits`."""
    from tabulate import tabulate

    if digits is not None:
        frame = frame.with_columns(pl.col(c).round(digits) for c, t in frame.schema.items() if t.is_float())
    rows = [[_cell(value, width) for value in row] for row in frame.iter_rows()]
    # disable_numparse: cells are already text; tabulate would otherwise reformat "1e-05" or "007".
    return tabulate(rows, headers=frame.columns, tablefmt="github", disable_numparse=True)
