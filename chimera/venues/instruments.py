"""The venue's trading filters per instrument (tick, lot step, min quantity, min notional).

``Instrument`` is converted at the adapter edge from a ccxt market dict. Binance's exchangeInfo
filters (``market['info']['filters']``: ``PRICE_FILTER``, ``LOT_SIZE``, ``NOTIONAL`` on spot or
``MIN_NOTIONAL`` on USDⓈ-M) are exact decimal strings and win; ccxt's unified
``market['precision']`` / ``market['limits']`` (floats; ccxt's binance classes use the
TICK_SIZE precision mode, so ``precision['amount']`` is a step) fill in what they lack.

``InstrumentCatalog`` loads the markets of one venue once per process, on first use, through
ccxt exchanges made by ``make_exchange``; it refreshes them after ``ttl_s``. A venue that cannot
be reached leaves the catalog empty (``get`` answers None, so callers fall back to their own
defaults), is logged once, and is tried again ``retry_s`` later; a failed refresh keeps the
previous (stale) instruments.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from ccxt.base.errors import BaseError as CcxtError

from chimera.domain.orders import Market
from chimera.names import MarketKind
from chimera.venues.ccxt_factory import Exchange, make_exchange
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import raise_if_cancelling

log = logging.getLogger("chimera.venues.instruments")

DEFAULT_TTL_S = 3600.0
DEFAULT_RETRY_S = 60.0
_KIND: dict[Market, MarketKind] = {"FUT": "perp", "SPOT": "spot"}


class Instrument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One tradable instrument's order filters; quantities are base-asset units."""

    market: Market
    symbol: str  # the venue's id, e.g. BTCUSDT
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal  # quote (USDT); 0 when the venue sets none
    max_qty: Decimal | None = None


def _dec(value: Any) -> Decimal | None:
    """Return ``value`` (a string, int or float from ccxt) as an exact Decimal; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))  # str(float) is its shortest repr: 1e-05 -> 0.00001
    except InvalidOperation:
        return None
    return plain(number) if number.is_finite() else None


def plain(number: Decimal) -> Decimal:
    """Return ``number`` without trailing zeros, never in exponent form (``10``, not ``1E+1``)."""
    reduced = number.normalize()
    exponent = reduced.as_tuple().exponent
    return reduced.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else reduced


def _first(*values: Any) -> Decimal | None:
    for value in values:
        number = _dec(value)
        if number is not None:
            return number
    return None


def _market_of(market: Mapping[str, Any]) -> Market | None:
    if market.get("spot"):
        return "SPOT"
    if market.get("swap") and market.get("linear"):
        return "FUT"
    return None


def instrument_from_ccxt(market: Mapping[str, Any]) -> Instrument | None:
    """Convert one ccxt market dict; None for a market that is neither spot nor a linear swap.

    Raise ``ValueError`` when the market has no positive tick or step size.
    """
    kind = _market_of(market)
    if kind is None:
        return None
    info = market.get("info") or {}
    filters = {f.get("filterType"): f for f in info.get("filters") or () if isinstance(f, dict)}
    price_filter = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    symbol = str(market.get("id") or "")
    tick = _first(price_filter.get("tickSize"), precision.get("price"))
    step = _first(lot.get("stepSize"), precision.get("amount"))
    if not symbol or tick is None or tick <= 0 or step is None or step <= 0:
        raise ValueError(
            f"market {market.get('symbol')!r} has no usable tick/step size (tick={tick}, "
            f"step={step})"
        )
    max_qty = _first(lot.get("maxQty"), amount_limits.get("max"))
    min_qty = _first(lot.get("minQty"), amount_limits.get("min")) or Decimal(0)
    min_notional = _first(
        notional.get("minNotional"), notional.get("notional"), cost_limits.get("min")
    ) or Decimal(0)
    return Instrument(
        market=kind,
        symbol=symbol,
        tick_size=tick,
        step_size=step,
        min_qty=max(Decimal(0), min_qty),
        min_notional=max(Decimal(0), min_notional),
        max_qty=max_qty if max_qty is not None and max_qty > 0 else None,
    )


def instruments_from_markets(markets: Mapping[str, Mapping[str, Any]]) -> dict[str, Instrument]:
    """Convert ccxt's ``load_markets()`` result to instruments by venue symbol (one market kind).

    Markets that do not convert are left out (and logged).
    """
    out: dict[str, Instrument] = {}
    for name, market in markets.items():
        try:
            instrument = instrument_from_ccxt(market)
        except ValueError as exc:
            log.warning("instrument %s left out: %s", name, exc)
            continue
        if instrument is not None:
            out[instrument.symbol] = instrument
    return out


ExchangeFactory = Callable[[MarketKind, VenueSettings], Exchange]
# What a market load may fail with when the venue is down, slow or answers nonsense.
_LOAD_ERRORS = (CcxtError, OSError, TimeoutError, ValueError, KeyError, TypeError)


class _Slot:
    """One market kind's instruments and when they were (or may next be) loaded."""

    __slots__ = ("by_symbol", "loaded_at", "lock", "next_try", "warned")

    def __init__(self) -> None:
        self.by_symbol: dict[str, Instrument] = {}
        self.loaded_at: float | None = None
        self.next_try = 0.0
        self.warned = False
        self.lock = asyncio.Lock()


class InstrumentCatalog:
    """The venue's instruments of both markets, loaded lazily and refreshed after a TTL."""

    def __init__(
        self,
        settings: VenueSettings,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        exchange_factory: ExchangeFactory = make_exchange,
    ) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self._clock = clock
        self._factory = exchange_factory
        self._slots: dict[Market, _Slot] = {"FUT": _Slot(), "SPOT": _Slot()}
        self.loads = 0  # successful loads, for tests and diagnostics

    def peek(self, market: Market, symbol: str) -> Instrument | None:
        """Return what is cached for ``symbol`` on ``market`` without loading anything."""
        return self._slots[market].by_symbol.get(symbol)

    async def get(self, market: Market, symbol: str) -> Instrument | None:
        """Return ``symbol``'s instrument on ``market`` (loading or refreshing first if due)."""
        slot = self._slots[market]
        if self._due(slot):
            async with slot.lock:
                if self._due(slot):  # another caller may have loaded while this one waited
                    await self._load(market, slot)
        return slot.by_symbol.get(symbol)

    def _due(self, slot: _Slot) -> bool:
        now = self._clock()
        if now < slot.next_try:
            return False
        return slot.loaded_at is None or now - slot.loaded_at >= self.ttl_s

    async def refresh(self, market: Market) -> bool:
        """Load ``market``'s instruments now; True when the venue answered."""
        slot = self._slots[market]
        async with slot.lock:
            return await self._load(market, slot)

    async def _load(self, market: Market, slot: _Slot) -> bool:
        try:
            instruments = await self._fetch(market)
        except _LOAD_ERRORS as exc:
            raise_if_cancelling()
            slot.next_try = self._clock() + self.retry_s
            if not slot.warned:
                slot.warned = True
                log.warning(
                    "%s instruments unavailable from %s (%s: %s); sizing falls back to the"
                    " config's qty_step until the venue answers",
                    market,
                    self._where(),
                    type(exc).__name__,
                    exc,
                )
            return False
        slot.by_symbol = instruments
        slot.loaded_at = self._clock()
        slot.next_try = 0.0
        if slot.warned:
            log.info("%s instruments loaded from %s", market, self._where())
        slot.warned = False
        self.loads += 1
        return True

    async def _fetch(self, market: Market) -> dict[str, Instrument]:
        # A short-lived exchange: the catalog holds plain data, not sessions, between loads.
        exchange = self._factory(_KIND[market], self.settings)
        try:
            markets = await exchange.load_markets()
        finally:
            await exchange.close()
        return instruments_from_markets(markets)

    def _where(self) -> str:
        return self.settings.paper_url if self.settings.mode == "paper" else "Binance"


__all__ = [
    "DEFAULT_RETRY_S",
    "DEFAULT_TTL_S",
    "Instrument",
    "InstrumentCatalog",
    "instrument_from_ccxt",
    "instruments_from_markets",
    "plain",
]
