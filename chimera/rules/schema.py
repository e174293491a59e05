"""The names a rule may read and the type of each, supplied by the caller (S3)."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from chimera.rules.lexer import KEYWORDS, is_identifier


class ValueType(enum.Enum):
    """The three value types of the language."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"


Schema = Mapping[str, ValueType]
"""Identifier -> type of every value a rule may read (features, regime, funding, health...)."""


def check_schema(schema: Schema) -> None:
    """Raise ``ValueError`` naming the entry when a schema name could never be written in a rule."""
    for name, kind in schema.items():
        if not isinstance(name, str) or not is_identifier(name) or name in KEYWORDS:
            raise ValueError(f"schema name {name!r} is not a usable identifier")
        if not isinstance(kind, ValueType):
            raise ValueError(f"schema entry {name!r} has type {kind!r}, not a ValueType")
