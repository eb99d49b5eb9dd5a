"""Domain errors. ``str(err)`` is shown to the user verbatim: what failed and what to do."""

from __future__ import annotations


class VidcolorError(Exception):
    """Base of every error vidcolor reports to the user as one line."""


class InputError(VidcolorError, ValueError):
    """The input is missing, unreadable or not something vidcolor can colorize."""


class ModelError(VidcolorError):
    """Weights are missing or corrupt, or inference failed (e.g. out of memory)."""


class ResumeError(VidcolorError):
    """An interrupted job cannot be resumed as it stands."""


class OutputError(VidcolorError, OSError):
    """The output cannot be written."""
