"""Perpetual funding: the next rate to the stream and key, realized fundings to ``funding_records``.

Next funding: every ``markPriceUpdate`` (and the ``premiumIndex`` read at start) becomes a
``FundingEvent(kind="next")`` on ``mkt:events:{funding}:<SYMBOL>`` and the value of
``funding:{next}:<symbol>``.

Realized funding: when the next funding time moves forward, the previous one was settled. Its
rate comes from ``GET /fapi/v1/fundingRate``; ``amount_usdt`` is this account's payment from the
venue's income history (``GET /fapi/v1/income?incomeType=FUNDING_FEE``, the endpoint behind
ccxt's ``fetch_funding_history``), summed for that settlement — NULL when the venue has no
income record (no position, or no credentials). Rows are upserted on (symbol, funding_time): a
repeat is a no-op, and the ``realized`` event is published only when the row is new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg
import msgspec

from chimera.domain.market import FundingEvent
from chimera.names import funding_next_key, funding_stream
from chimera.venues.binance_wire import IncomeRecord, MarkPriceUpdate
from chimera_workers.errors import cancel_and_wait
from handlers.s1_connectors.publisher import StreamPublisher
from handlers.s1_connectors.venue_api import MarketRest, VenueError

log = logging.getLogger("chimera.s1.funding")

IncomeFetcher = Callable[[str, int], Awaitable[Decimal | None]]
"""Return the account's realized funding (USDT) of (symbol, funding_time_ms), or None."""

UPSERT_FUNDING = """
INSERT INTO funding_records (symbol, funding_time, rate, amount_usdt)
VALUES ($1, $2, $3, $4)
ON CONFLICT (symbol, funding_time) DO UPDATE SET
    rate = EXCLUDED.rate,
    amount_usdt = COALESCE(EXCLUDED.amount_usdt, funding_records.amount_usdt)
RETURNING (xmax = 0) AS inserted
"""


async def record_funding(pool: asyncpg.Pool, event: FundingEvent) -> bool:
    """Upsert a realized funding; return True if the row is new."""
    inserted = await pool.fetchval(
        UPSERT_FUNDING, event.symbol, event.funding_time_ms, event.rate, event.amount_usdt
    )
    return bool(inserted)


class FundingTracker:
    """One perpetual symbol's funding: publish the next rate, settle realized ones."""

    def __init__(
        self,
        symbol: str,
        publisher: StreamPublisher,
        rest: MarketRest,
        pool: asyncpg.Pool,
        income: IncomeFetcher | None = None,
        *,
        settle_attempts: int = 10,
        settle_retry_s: float = 2.0,
    ) -> None:
        self.symbol = symbol
        self.publisher = publisher
        self.rest = rest
        self.pool = pool
        self.income = income
        self.settle_attempts = settle_attempts
        self.settle_retry_s = settle_retry_s
        self.next_funding_time: int | None = None
        self.realized = 0
        self._stream = funding_stream(symbol)
        self._key = funding_next_key(symbol)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, lookback_ms: int = 24 * 3600_000) -> None:
        """Read the next funding, and record the settlements of the last ``lookback_ms`` that
        are not recorded yet (those S1 missed while it was down)."""
        index = await self.rest.premium_index(self.symbol)
        if self.next_funding_time is None:  # a markPriceUpdate may have come first
            self._next(
                index.last_funding_rate, index.next_funding_time, index.mark_price, index.time
            )
        end = index.next_funding_time - 1
        await self.settle(end - lookback_ms, end, attempts=1)

    def on_mark_price(self, update: MarkPriceUpdate) -> None:
        """Publish the next funding; settle the previous one when its time has passed."""
        previous = self.next_funding_time
        self._next(
            update.funding_rate, update.next_funding_time, update.mark_price, update.event_time
        )
        if previous is not None and update.next_funding_time > previous:
            task = asyncio.create_task(self.settle(previous, previous))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def settle(self, start_ms: int, end_ms: int, *, attempts: int | None = None) -> None:
        """Record the settled funding(s) in [start, end], retrying while the venue lags."""
        attempts = attempts or self.settle_attempts
        for attempt in range(attempts):
            try:
                records = await self.rest.funding_rates(self.symbol, start_ms, end_ms)
            except VenueError as exc:
                log.warning("%s: fundingRate failed: %s", self.symbol, exc)
                records = []
            if records:
                for rec in records:
                    await self._realized(rec.funding_rate, rec.funding_time, rec.mark_price)
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(self.settle_retry_s)
        log.warning("%s: no settled funding found in [%d, %d]", self.symbol, start_ms, end_ms)

    async def stop(self) -> None:
        """Cancel settlements still waiting for the venue."""
        await cancel_and_wait(list(self._tasks))

    def _next(self, rate: Decimal, funding_time: int, mark: Decimal, ts_ms: int) -> None:
        self.next_funding_time = funding_time
        event = FundingEvent(
            kind="next",
            symbol=self.symbol,
            rate=rate,
            funding_time_ms=funding_time,
            ts_ms=ts_ms,
            mark_price=mark,
        )
        self.publisher.add(self._stream, event)
        self.publisher.set_key(self._key, event)

    async def _realized(self, rate: Decimal, funding_time: int, mark: Decimal | None) -> None:
        amount = None
        if self.income is not None:
            try:
                amount = await self.income(self.symbol, funding_time)
            except Exception as exc:  # any ccxt failure leaves the amount unknown (NULL)
                log.warning("%s: income history unavailable: %s", self.symbol, exc)
        event = FundingEvent(
            kind="realized",
            symbol=self.symbol,
            rate=rate,
            funding_time_ms=funding_time,
            ts_ms=funding_time,
            mark_price=mark,
            amount_usdt=amount,
        )
        if await record_funding(self.pool, event):
            log.info("%s: funding at %d settled, rate %s", self.symbol, funding_time, rate)
            self.realized += 1
            self.publisher.add(self._stream, event)


def ccxt_income_fetcher(exchange: object, *, window_ms: int = 60_000) -> IncomeFetcher:
    """Build an ``IncomeFetcher`` on a ccxt ``binanceusdm`` exchange (signed endpoint).

    Uses ccxt's raw ``fapiPrivateGetIncome`` — the call behind ``fetch_funding_history`` — so the
    amounts stay Binance's decimal strings instead of ccxt's floats.
    """

    async def fetch(symbol: str, funding_time_ms: int) -> Decimal | None:
        params = {
            "symbol": symbol,
            "incomeType": "FUNDING_FEE",
            "startTime": funding_time_ms - window_ms,
            "endTime": funding_time_ms + window_ms,
            "limit": 100,
        }
        raw = await exchange.fapiPrivateGetIncome(params)  # type: ignore[attr-defined]
        records = msgspec.convert(raw, list[IncomeRecord])
        amounts = [r.income for r in records if r.symbol == symbol and r.asset == "USDT"]
        return sum(amounts, Decimal(0)) if amounts else None

    return fetch
