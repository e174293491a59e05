"""Follow the decision and execution streams (features → decisions → intents → order results).

Like the market tape it reads forward with XRANGE (no consumer group), so watching never
disturbs the services. Per symbol it keeps the latest features, decision counts by reason, and
the orders and fills S4 reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from chimera.domain.features import FeatureEvent
from chimera.domain.orders import OrderIntent, OrderResult
from chimera.domain.signals import Decision
from chimera.names import ORD_INTENTS, ORD_RESULTS, SIG_EVENTS, feat_stream
from chimera_workers.codec import Fields, decode_entry
from chimera_workers.connections import RedisClient

_features = msgspec.json.Decoder(FeatureEvent)
_decision = msgspec.json.Decoder(Decision)
_intent = msgspec.json.Decoder(OrderIntent)
_result = msgspec.json.Decoder(OrderResult)


@dataclass
class SymbolView:
    """What the dashboard shows for one symbol."""

    features: FeatureEvent | None = None
    bars: int = 0  # feature snapshots (one per completed 1-minute bar)
    decisions: Counter[str] = field(default_factory=Counter)  # "open" / "skip:<reason>"
    intents: int = 0
    orders: dict[str, OrderResult] = field(default_factory=dict)  # by client_order_id
    filled_qty: dict[str, Decimal] = field(default_factory=dict)  # by side

    @property
    def opens(self) -> int:
        return self.decisions["open"]

    @property
    def skips(self) -> int:
        return sum(n for k, n in self.decisions.items() if k.startswith("skip"))

    def top_skip(self) -> str:
        reasons = [(n, k) for k, n in self.decisions.items() if k.startswith("skip:")]
        return max(reasons)[1].removeprefix("skip:") if reasons else "-"

    def fills(self) -> int:
        return sum(1 for o in self.orders.values() if o.filled_qty > 0)


class Pipeline:
    """Every symbol's ``SymbolView``, refreshed by ``poll``."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = {s: SymbolView() for s in symbols}
        self._last: dict[str, bytes] = {}

    async def _read(self, redis: RedisClient, stream: str) -> list[tuple[bytes, Fields]]:
        last = self._last.get(stream, b"0-0")
        rows: list[tuple[bytes, Fields]] = await redis.xrange(  # type: ignore[assignment]
            stream, b"(" + last, b"+", count=10_000
        )
        if rows:
            self._last[stream] = rows[-1][0]
        return rows

    async def skip_history(self, redis: RedisClient) -> None:
        """Start every stream from its end, so the run's counts are this run's."""
        for stream in self._streams():
            last: list[tuple[bytes, Fields]] = await redis.xrevrange(  # type: ignore[assignment]
                stream, count=1
            )
            if last:
                self._last[stream] = last[0][0]

    def _streams(self) -> list[str]:
        return [*(feat_stream(s) for s in self.symbols), SIG_EVENTS, ORD_INTENTS, ORD_RESULTS]

    async def poll(self, redis: RedisClient) -> None:
        """Read every stream forward and update the views."""
        for symbol, view in self.symbols.items():
            stream = feat_stream(symbol)
            for entry_id, fields in await self._read(redis, stream):
                view.features = decode_entry(_features, stream, entry_id.decode(), fields)
                view.bars += 1
        for entry_id, fields in await self._read(redis, SIG_EVENTS):
            d: Decision = decode_entry(_decision, SIG_EVENTS, entry_id.decode(), fields)
            if d.symbol in self.symbols:
                key = "open" if d.action == "open" else f"skip:{d.reason}"
                self.symbols[d.symbol].decisions[key] += 1
        for entry_id, fields in await self._read(redis, ORD_INTENTS):
            i: OrderIntent = decode_entry(_intent, ORD_INTENTS, entry_id.decode(), fields)
            if i.symbol in self.symbols:
                self.symbols[i.symbol].intents += 1
        for entry_id, fields in await self._read(redis, ORD_RESULTS):
            r: OrderResult = decode_entry(_result, ORD_RESULTS, entry_id.decode(), fields)
            if r.symbol in self.symbols:
                self.symbols[r.symbol].orders[r.client_order_id] = r
