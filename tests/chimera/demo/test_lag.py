"""The demo's lag table against a real Redis: undelivered and pending entries per group."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chimera.demo.lag import LagRow, LagWatch, main_streams
from chimera.names import ORD_INTENTS, ORD_RESULTS, SIG_EVENTS, feat_stream
from chimera_workers.connections import RedisClient


def test_main_streams_are_the_market_feature_decision_and_order_streams() -> None:
    names = main_streams(["BTCUSDT"])
    assert names == [
        "mkt:events:{spot}:BTCUSDT", "mkt:events:{perp}:BTCUSDT", "mkt:events:{funding}:BTCUSDT",
        "feat:events:BTCUSDT", SIG_EVENTS, ORD_INTENTS, ORD_RESULTS,
    ]  # fmt: skip
    assert main_streams(["BTCUSDT"], {SIG_EVENTS, "other"}) == [SIG_EVENTS]


async def test_lag_counts_undelivered_and_pending_entries_per_group(rclient: RedisClient) -> None:
    stream = feat_stream("BTCUSDT")
    for i in range(10):
        await rclient.xadd(stream, {"n": str(i)})
    await rclient.xgroup_create(stream, "s3-decide", id="0")
    await rclient.xgroup_create(stream, "idle", id="$")
    await rclient.xreadgroup("s3-decide", "c1", {stream: ">"}, count=4)  # 4 pending, 6 behind
    watch = LagWatch([stream, ORD_INTENTS])  # a missing stream has no groups
    await watch.poll(rclient)
    assert watch.rows == [
        LagRow(stream, "idle", 0, False, 0),
        LagRow(stream, "s3-decide", 6, False, 4),
    ]
    assert (watch.max_lag, watch.max_lag_at) == (6, f"{stream} / s3-decide")
    await rclient.xreadgroup("s3-decide", "c1", {stream: ">"})
    await watch.poll(rclient)
    assert watch.rows is not None and watch.rows[1] == LagRow(stream, "s3-decide", 0, False, 10)
    assert watch.max_lag == 6  # the largest seen is kept


@pytest.mark.timeout(30)
async def test_an_unreachable_redis_leaves_the_table_na() -> None:
    watch = LagWatch([feat_stream("BTCUSDT")], timeout_s=2.0)
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1")  # nothing listens on port 1
    try:
        await watch.poll(dead)
    finally:
        await dead.aclose()
    assert watch.rows is None and watch.max_lag == 0
