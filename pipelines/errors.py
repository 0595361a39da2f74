"""Errors of the Dagster shell."""

from warehouse.errors import LikraError


class SettingsFileError(LikraError):
    """A settings file an environment variable names that cannot be read."""


class PipelineRunError(LikraError):
    """A Dagster run that did not succeed; the message names the run and where its logs are."""


class OptionError(LikraError):
    """A command-line option whose value is out of its range (NaN, infinite, negative, not a number)."""
