"""Read-copy-update holder for the live configuration object.

A new configuration is built aside and swapped in with one reference assignment; every
handler invocation captures the reference once, so it finishes on the config it started with.
"""

from __future__ import annotations

from typing import Generic, TypeVar

C = TypeVar("C")


class ConfigRef(Generic[C]):
    """Hold the current configuration and its revision."""

    __slots__ = ("_current", "_rev")

    def __init__(self, initial: C, rev: int = 0) -> None:
        self._current = initial
        self._rev = rev

    @property
    def current(self) -> C:
        return self._current

    @property
    def rev(self) -> int:
        return self._rev

    def swap(self, new: C, rev: int) -> None:
        """Publish ``new`` as revision ``rev``; older or equal revisions are ignored."""
        if rev > self._rev:
            self._current, self._rev = new, rev

    def replace(self, new: C, rev: int) -> None:
        """Publish ``new`` as revision ``rev`` whatever the current one (a rollback may lower it).

        For a source of truth that names the active revision (``config:`` loaders): what it
        returns is current by definition.
        """
        self._current, self._rev = new, rev
