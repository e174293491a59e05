"""Demo handlers: an idempotent DB write with an emit, an idempotent counter, a heartbeat."""

from __future__ import annotations

from chimera_workers import Context
from handlers.framework_demo.events import Tick, TickRecorded

RECORDED = "demo:recorded"
COUNTS_KEY = "demo:{counts}:by_symbol"
SEEN_KEY = "demo:{counts}:seen"
HEARTBEAT_KEY = "demo:heartbeat"


async def record_tick(event: Tick, ctx: Context) -> None:
    """Store the tick once (keyed by symbol and seq) and announce it."""
    if event.poison:
        raise ValueError(f"tick {event.symbol}#{event.seq} is marked poison")
    assert ctx.db is not None
    await ctx.db.execute(
        "INSERT INTO demo_ticks(symbol, seq, price_cents, ts_ms) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (symbol, seq) DO NOTHING",
        event.symbol,
        event.seq,
        event.price,
        event.ts_ms,
    )
    ctx.emit(RECORDED, TickRecorded(symbol=event.symbol, seq=event.seq))


_COUNT_ONCE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], 1) == 1 then
  return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
return 0
"""


async def count_recorded(event: TickRecorded, ctx: Context) -> None:
    """Count each recorded tick once per symbol, even when delivered twice."""
    await ctx.redis.eval(_COUNT_ONCE, 2, SEEN_KEY, COUNTS_KEY, ctx.idempotency_key, event.symbol)


async def heartbeat(ctx: Context) -> None:
    """Mark that the scheduled job ran (exactly one worker runs each tick)."""
    await ctx.redis.incr(HEARTBEAT_KEY)
