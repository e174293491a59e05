"""The one error the rule language raises: what is wrong, where, and what to do about it."""

from __future__ import annotations

from chimera_workers.errors import ConfigError


class RuleError(ConfigError):
    """A rule text that cannot be compiled, located at 1-based ``line`` and ``column``.

    ``source`` names where the text came from (e.g. ``bundle.yaml:strategy.rules``) and
    ``excerpt`` shows the offending line with a caret under ``column`` once the text is known.
    """

    def __init__(
        self,
        line: int,
        column: int,
        message: str,
        hint: str | None = None,
        *,
        source: str = "<rules>",
    ) -> None:
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column
        self.source = source
        self.excerpt = ""

    def located_in(self, text: str, source: str) -> RuleError:
        """Attach ``source`` and the excerpt of ``text`` at this error's position; return self."""
        self.source = source
        lines = text.splitlines()
        if 1 <= self.line <= len(lines):
            shown = lines[self.line - 1].replace("\t", " ")
            self.excerpt = f"{shown}\n{' ' * (self.column - 1)}^"
        return self

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}: {self.message}"
        return f"{where} (hint: {self.hint})" if self.hint else where
