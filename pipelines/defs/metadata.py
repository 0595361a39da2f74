"""Materialisation metadata the Dagster UI renders: markdown tables from frames, PNG plots inline."""

from __future__ import annotations

import base64

from likra.rendering import markdown_table

__all__ = ["markdown_image", "markdown_table"]  # markdown_table is the shared renderer, re-exported for the assets


def markdown_image(png: bytes, alt: str) -> str:
    """A PNG embedded in markdown, so the UI shows it without another file."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
