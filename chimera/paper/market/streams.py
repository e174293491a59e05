"""Binance market-stream names (``btcusdt@depth@100ms``) parsed into what the hub serves."""

from __future__ import annotations

import re

import msgspec

from chimera.paper.markets import VenueKind

# Binance's diff-depth update speeds; futures also offer 0 ms (real time) and 250/500 ms.
_DEPTH_RATES = {
    "spot": {"", "@100ms", "@1000ms"},
    "perp": {"", "@0ms", "@100ms", "@250ms", "@500ms"},
}
_PARTIAL_RATES = {"", "@100ms", "@250ms", "@500ms", "@1000ms"}
_NAME = re.compile(r"^([a-z0-9]+)@([A-Za-z]+)(\d*)((?:_1m)?)((?:@\d+m?s)?)$")

# Hub channels a stream is fed from (its source event) and the derived shape it carries.
STREAM_KINDS = (
    "depth",
    "depthN",
    "trade",
    "aggTrade",
    "bookTicker",
    "ticker",
    "kline",
    "markPrice",
)


class StreamSpec(msgspec.Struct, frozen=True):
    """A parsed stream: ``form`` is one of ``STREAM_KINDS``; ``levels`` for partial depth."""

    name: str
    symbol: str  # Binance id, upper case
    form: str
    levels: int = 0


def parse_stream(kind: VenueKind, name: str, symbols: set[str]) -> StreamSpec | None:
    """Return what stream ``name`` means on the ``kind`` market; None if the venue lacks it."""
    match = _NAME.match(name)
    if match is None:
        return None
    sym, word, digits, kline, rate = match.groups()
    symbol = sym.upper()
    if symbol not in symbols:
        return None
    if word == "depth" and not digits and not kline:
        return StreamSpec(name, symbol, "depth") if rate in _DEPTH_RATES[kind] else None
    if word == "depth" and digits in ("5", "10", "20") and not kline and rate in _PARTIAL_RATES:
        return StreamSpec(name, symbol, "depthN", int(digits))
    if digits or (rate and not (word == "markPrice" and rate == "@1s")):
        return None
    if word == "kline" and kline == "_1m":
        return StreamSpec(name, symbol, "kline")
    if kline:
        return None
    if word in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker"):
        return StreamSpec(name, symbol, word)
    if word == "markPrice" and kind == "perp":
        return StreamSpec(name, symbol, "markPrice")
    return None
