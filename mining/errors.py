"""Errors of mining runs, each naming the setting, model or benchmark that was wrong."""

from warehouse.errors import LikraError


class MiningError(LikraError):
    """A mining run that cannot go on as asked (e.g. an empty answer pool)."""


class MiningConfigError(MiningError):
    """A mining configuration with an unknown key, a bad value or contradictory thresholds."""


class EmbedderLoadError(MiningError):
    """An embedding model that cannot be found or loaded; the message names it."""
