"""Write 1-minute bars into ``bars_1m`` the way S1 stores them (for regime and recompute tests)."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import numpy as np

COLUMNS = [
    "venue_kind", "symbol", "open_time", "open", "high", "low", "close", "volume",
    "quote_volume", "trade_count", "first_trade_id", "last_trade_id", "complete",
]  # fmt: skip


def walk(
    start_ms: int, n: int, sigma: float, *, seed: int, price: float = 30_000.0
) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal]]:
    """Return n bars (open_time, open, high, low, close) of a random walk, one a minute."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        close = price * float(np.exp(rng.normal(0, sigma)))
        o, c = Decimal(f"{price:.1f}"), Decimal(f"{close:.1f}")
        out.append((start_ms + i * 60_000, o, max(o, c) + Decimal("3.5"),
                    min(o, c) - Decimal("2.5"), c))  # fmt: skip
        price = close
    return out


async def insert_bars(
    pool: asyncpg.Pool,
    symbol: str,
    bars: list[tuple[int, Decimal, Decimal, Decimal, Decimal]],
    *,
    kind: str = "perp",
    first_trade_id: int = 1,
) -> None:
    """Store ``bars`` as complete bars with contiguous trade ids (10 trades each)."""
    records = []
    trade_id = first_trade_id
    for open_time, o, h, lo, c in bars:
        records.append((kind, symbol, open_time, o, h, lo, c, Decimal(1), c, 10, trade_id,
                        trade_id + 9, True))  # fmt: skip
        trade_id += 10
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("bars_1m", records=records, columns=COLUMNS)
