"""Turn a caller's environment values into the exact values rules compute with.

Numbers become ``Decimal``: a float (or numpy float) through its shortest repr (``0.8`` is
exactly 0.8, not the binary fraction), an int (or numpy integer) exactly; a bool is no number.
A value that is absent, ``None``, NaN/infinite or of the wrong type for its schema entry is left
out; a rule reading it then fails with ``KeyError`` and the evaluator records why, using
``describe_problem``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

NO_VALUE: Any = object()
"""What a converter returns for a value rules cannot use."""


def to_number(value: Any) -> Any:
    """Return ``value`` as a finite Decimal, or NO_VALUE."""
    kind = type(value)
    if kind is float:  # the common case (S2 features)
        return Decimal(repr(value)) if math.isfinite(value) else NO_VALUE
    if kind is Decimal:
        return value if value.is_finite() else NO_VALUE
    if isinstance(value, bool):
        return NO_VALUE
    if isinstance(value, Decimal):
        return value if value.is_finite() else NO_VALUE
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return Decimal(int(value))
    if isinstance(value, numbers.Real):  # float subclasses, numpy floats
        as_float = float(value)
        return Decimal(repr(as_float)) if math.isfinite(as_float) else NO_VALUE
    return NO_VALUE


def describe_problem(env: Mapping[str, object], name: str) -> str:
    """Return why ``env[name]`` could not be used (for an evaluation reason)."""
    if name not in env:
        return "missing"
    value = env[name]
    if value is None:
        return "null"
    if isinstance(value, float | Decimal):
        return f"not finite ({value})"
    return f"of the wrong type ({type(value).__name__})"
