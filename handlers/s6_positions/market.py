"""What S6 reads about the market to price a stop: S2's latest ATR of a symbol and the regime."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec

from chimera import names
from chimera.domain.features import FeatureEvent, RegimeLabel, RegimeState
from chimera.domain.market import BookEvent, MarketEvent, TradeEvent
from chimera_workers.connections import RedisClient
from chimera_workers.keys import PAYLOAD_FIELD

_FEATURES = msgspec.json.Decoder(FeatureEvent)
_REGIME = msgspec.json.Decoder(RegimeState)
_MARKET = msgspec.json.Decoder(MarketEvent)
# How far back to look for a book or trade among the latest entries (bars interleave).
_MARK_LOOKBACK = 20


async def latest_atr(redis: RedisClient, symbol: str) -> Decimal | None:
    """Return the ATR of S2's latest feature snapshot of ``symbol`` (None: none known)."""
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await redis.xrevrange(  # type: ignore[assignment]
        names.feat_stream(symbol), count=1
    )
    if not entries:
        return None
    _, fields = entries[0]
    try:
        atr = _FEATURES.decode(fields[PAYLOAD_FIELD]).features.atr
    except (KeyError, msgspec.ValidationError, msgspec.DecodeError):
        return None  # an unreadable snapshot is an unknown ATR: the percentage fallback applies
    return None if atr is None else Decimal(repr(atr))


async def latest_mark(redis: RedisClient, symbol: str) -> Decimal | None:
    """Return the latest perp mid (or trade price) S1 published for ``symbol`` (None: none).

    Corrupt entries are skipped, not guessed at: S6 then manages nothing on that symbol.
    """
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await redis.xrevrange(  # type: ignore[assignment]
        names.mkt_stream("perp", symbol), count=_MARK_LOOKBACK
    )
    for _, fields in entries:
        try:
            event = _MARKET.decode(fields[PAYLOAD_FIELD]).event
        except (KeyError, msgspec.ValidationError, msgspec.DecodeError):
            continue
        if isinstance(event, BookEvent):
            return event.mid
        if isinstance(event, TradeEvent):
            return event.price
    return None


def parse_regime(raw: bytes | str | None, now_ms: int) -> RegimeLabel | None:
    """Return the label of a ``prod:{regime}:market:state`` value, None if unknown or expired.

    Unlike S3's gate (which reads an unknown regime as NORMAL), a stop priced without a known
    regime applies no regime factor at all.
    """
    if raw is None:
        return None
    try:
        state = _REGIME.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return state.state if state.expires_ms > now_ms else None


async def current_regime(redis: RedisClient, now_ms: int | None = None) -> RegimeLabel | None:
    """Return S2's market regime now (None: absent, unreadable or expired)."""
    raw = await redis.get(names.REGIME_STATE)
    return parse_regime(raw, int(time.time() * 1000) if now_ms is None else now_ms)


__all__ = ["current_regime", "latest_atr", "latest_mark", "parse_regime"]
