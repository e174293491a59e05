"""Decimal <-> Binance's decimal strings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_EIGHT = Decimal("0.00000001")


def spot_str(value: Decimal) -> str:
    """Format as Binance spot does (8 decimals), keeping any finer digits an exact fee has."""
    if value == value.quantize(_EIGHT):
        return f"{value.quantize(_EIGHT):f}"
    return f"{value.normalize():f}"


def plain_str(value: Decimal) -> str:
    """Format without exponent or trailing zeros (``"0"`` for zero), as futures endpoints do."""
    if value == 0:
        return "0"
    return f"{value.normalize():f}"


def parse_decimal(text: str) -> Decimal | None:
    """Parse a decimal string from a request; None when it is not a finite number."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
