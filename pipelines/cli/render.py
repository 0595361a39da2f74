"""How the CLI prints rows: an aligned table, CSV (nested values as JSON) or JSON records."""

from __future__ import annotations

import json

import polars as pl

from likra.rendering import cell_text, clipped


def _cell(value: object, max_width: int) -> str:
    return clipped(cell_text(value).replace("\n", "\\n"), max_width if max_width > 0 else None)


def render(frame: pl.DataFrame, fmt: str = "table", max_width: int = 60) -> str:
    """Rows as an aligned table, CSV (nested values as JSON) or JSON records."""
    if fmt == "json":
        return json.dumps(frame.to_dicts(), ensure_ascii=False, default=str, indent=1)
    if fmt == "csv":
        nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
        flat = frame.with_columns(
            pl.col(name).map_elements(
                lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v), return_dtype=pl.String
            )
            for name in nested
        )
        return flat.write_csv().rstrip("\n")
    from tabulate import tabulate

    rows = [[_cell(value, max_width) for value in row] for row in frame.iter_rows()]
    align = ["right" if dtype.is_numeric() else "left" for dtype in frame.dtypes]
    table = tabulate(rows, headers=frame.columns, tablefmt="simple", disable_numparse=True, colalign=align)
    return f"{table}\n({frame.height} row{'s' if frame.height != 1 else ''})"
