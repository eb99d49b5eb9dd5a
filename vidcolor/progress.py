"""A tiny progress protocol: the library reports, only the CLI draws (with tqdm)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long stage."""

    def start(self, total: int | None, unit: str) -> None:
        """A stage begins; ``total`` may be unknown."""

    def advance(self, n: int = 1) -> None:
        """``n`` more units are done."""

    def close(self) -> None:
        """The stage ended."""


class NullProgress:
    """Progress that reports nothing."""

    def start(self, total: int | None, unit: str) -> None:
        """Ignore."""

    def advance(self, n: int = 1) -> None:
        """Ignore."""

    def close(self) -> None:
        """Ignore."""
