"""``POST /features/recompute`` over HTTP (uvicorn on a free port, real Redis + PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
import talib

from chimera.config.features import FeaturesConfig
from chimera.http.server import serve
from chimera.names import mkt_stream
from chimera_workers.connections import RedisClient
from handlers.api.app import create_app
from handlers.s2_features.api import RECOMPUTE_PATH, features_mount
from tests.handlers.s2_features.bars_db import insert_bars, walk
from tests.handlers.s2_features.support import T0, enqueue, make_app, run_worker, session

TOKEN = "features-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CFG = FeaturesConfig(atr_period=5, rv_window=5, corr_window=10, corr_min_pairs=3)
MINUTE = 60_000


@pytest.fixture
async def http(redis_url: str, db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url,
        mounts=[features_mount(config=CFG, config_rev=9)],
    )  # fmt: skip
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


async def _counts(pool: asyncpg.Pool) -> tuple[int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM signals"),
        await pool.fetchval("SELECT count(*) FROM strategy_events"),
    )


async def test_recompute_backfills_bar_features_and_keeps_book_features(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    btc = walk(T0, 40, 1e-3, seed=1)
    eth = walk(T0, 40, 1e-3, seed=2, price=2_000.0)
    await insert_bars(pool, "BTCUSDT", btc)
    await insert_bars(pool, "ETHUSDT", eth)
    live_t0 = T0 + 20 * MINUTE + MINUTE
    await pool.execute(
        "INSERT INTO signals (signal_id, symbol, t0, features, config_rev) "
        "VALUES ($1, 'ETHUSDT', $2, $3::jsonb, 4)",
        f"ETHUSDT:{live_t0}", live_t0,
        json.dumps({"close": 1.0, "spread_bp": 1.5, "book_updates": 12,
                    "dqc": {"stale": True, "gap": True}}),
    )  # fmt: skip
    body = {"symbol": "ETHUSDT", "start_ms": T0 + 10 * MINUTE, "end_ms": T0 + 40 * MINUTE}
    reply = await http.post(RECOMPUTE_PATH, json=body, headers=AUTH)
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["bars"], result["inserted"], result["updated"]) == (30, 29, 1)
    assert result["config_rev"] == 9

    rows = await pool.fetch(
        "SELECT t0, features::text AS f, config_rev FROM signals WHERE symbol = 'ETHUSDT' "
        "ORDER BY t0"
    )
    assert [r["t0"] for r in rows] == [T0 + (i + 1) * MINUTE for i in range(10, 40)]
    high = np.array([float(b[2]) for b in eth])
    low = np.array([float(b[3]) for b in eth])
    close = np.array([float(b[4]) for b in eth])
    atr = talib.ATR(high, low, close, 5)
    for i, row in zip(range(10, 40), rows, strict=True):
        f = json.loads(row["f"])
        assert f["atr"] == pytest.approx(atr[i], abs=1e-9)
        assert f["rho_pairs"] == 10 and -1 <= f["rho"] <= 1
        assert row["config_rev"] == 9
    kept = json.loads(rows[10]["f"])  # the live row: book features and flags stay
    assert kept["spread_bp"] == 1.5 and kept["book_updates"] == 12
    assert kept["dqc"] == {"stale": True, "gap": False, "outlier": False, "partial": False}
    assert kept["close"] == float(close[20])
    event = await pool.fetchrow("SELECT kind, symbol, body::text AS body FROM strategy_events")
    assert event["kind"] == "FEATURE_RECOMPUTE" and event["symbol"] == "ETHUSDT"
    assert json.loads(event["body"])["bars"] == 30


async def test_recompute_reproduces_what_the_live_handler_computed(
    tmp_path: Path, http: httpx.AsyncClient, rclient: RedisClient, pool: asyncpg.Pool
) -> None:
    btc = session("BTCUSDT", 20, seed=5)
    await enqueue(rclient, mkt_stream("perp", "BTCUSDT"), btc.events)
    await run_worker(make_app(tmp_path), rclient, pool, ("BTCUSDT",), CFG)
    live = {r["t0"]: json.loads(r["f"]) for r in await pool.fetch(
        "SELECT t0, features::text AS f FROM signals")}  # fmt: skip
    await insert_bars(
        pool, "BTCUSDT", [(b.open_time, b.open, b.high, b.low, b.close) for b in btc.bars]
    )
    body = {"symbol": "BTCUSDT", "start_ms": T0, "end_ms": T0 + 20 * MINUTE}
    reply = await http.post(RECOMPUTE_PATH, json=body, headers=AUTH)
    assert reply.status_code == 200 and reply.json()["updated"] == 20
    again = {r["t0"]: json.loads(r["f"]) for r in await pool.fetch(
        "SELECT t0, features::text AS f FROM signals")}  # fmt: skip
    for t0, before in live.items():
        for name in ("close", "log_return", "atr", "natr", "rv", "rho", "spread_bp"):
            assert again[t0][name] == before[name], (t0, name)


GOOD = {"symbol": "BTCUSDT", "start_ms": T0, "end_ms": T0 + MINUTE}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"symbol": "btc-usdt"}, "at `$.symbol`"),
        ({"symbol": 5}, "Expected `str`, got `int` - at `$.symbol`"),
        ({"start_ms": -1}, "at `$.start_ms`"),
        ({"start_ms": "soon"}, "at `$.start_ms`"),
        ({"start_ms": 1.5}, "at `$.start_ms`"),
        ({"end_ms": T0}, "end_ms must be after start_ms"),
        ({"end_ms": T0 + 40 * 86_400_000}, "must be at most 2678400000 ms"),
        ({"venue_kind": "futures"}, "at `$.venue_kind`"),
        ({"requested_by": ""}, "at `$.requested_by`"),
        ({"surprise": 1}, "unknown field `surprise`"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool, change: dict[str, Any], expected: str
) -> None:
    await insert_bars(pool, "BTCUSDT", walk(T0, 5, 1e-3, seed=1))
    reply = await http.post(RECOMPUTE_PATH, json={**GOOD, **change}, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert any(expected in line for line in reply.json()["detail"]), reply.json()
    assert await _counts(pool) == (0, 0)


async def test_a_missing_field_no_bars_or_no_token_write_nothing(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    missing = await http.post(RECOMPUTE_PATH, json={"symbol": "BTCUSDT"}, headers=AUTH)
    assert missing.status_code == 400 and "start_ms" in missing.text
    none = await http.post(RECOMPUTE_PATH, json=GOOD, headers=AUTH)
    assert none.status_code == 422 and "no stored perp bars" in none.json()["error"]
    unauthorized = await http.post(RECOMPUTE_PATH, json=GOOD)
    assert unauthorized.status_code == 401
    assert await _counts(pool) == (0, 0)


async def test_without_a_fixed_config_the_active_bundle_revision_is_used(
    redis_url: str, db_url: str, pool: asyncpg.Pool
) -> None:
    rev = await pool.fetchval(
        "INSERT INTO config_bundles (name, body) VALUES ('t', $1::jsonb) RETURNING rev",
        json.dumps({"features": {"atr_period": 3}}),
    )
    await pool.execute("INSERT INTO config_active (rev) VALUES ($1)", rev)
    await insert_bars(pool, "BTCUSDT", walk(T0, 10, 1e-3, seed=3))
    app = create_app(
        service_token=TOKEN, redis_url=redis_url, database_url=db_url, mounts=[features_mount()]
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        reply = await client.post(
            RECOMPUTE_PATH, json={**GOOD, "end_ms": T0 + 10 * MINUTE}, headers=AUTH
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["config_rev"] == rev
    atrs = await pool.fetch("SELECT features->'atr' AS a FROM signals ORDER BY t0")
    assert [r["a"] is None or r["a"] == "null" for r in atrs][:4] == [True, True, True, False]
