"""Materialisation metadata the Dagster UI renders: markdown tables from frames, PNG plots inline."""

from __future__ import annotations

import base64
import json

import polars as pl


def _cell(value: object, width: int) -> str:
    text = (
        json.dumps(value, ensure_ascii=False)
        if isinstance(value, (list, dict))
        else ""
        if value is None
        else str(value)
    )
    text = text.replace("\n", " ⏎ ").replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown_table(frame: pl.DataFrame, width: int = 80) -> str:
    """The frame as a GitHub markdown table, each cell on one line and at most `width` characters."""
    from tabulate import tabulate

    rows = [[_cell(value, width) for value in row] for row in frame.iter_rows()]
    return tabulate(rows, headers=frame.columns, tablefmt="github", disable_numparse=True)


def markdown_image(png: bytes, alt: str) -> str:
    """A PNG embedded in markdown, so the UI shows it without another file."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
