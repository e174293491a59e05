"""Where decision → order acknowledged goes: the time of each hop of the S4 path, per intent.

Runs ``s4_router.py --through-stream`` (the intent XADDed to ``ord:{intents}``, a ``Worker`` on
the root ``streams.yaml``'s ``s4-intents`` binding, the paper venue in its own process) with
probes around the steps of the hot path, and prints p50/p90/p99 of each hop:

- ``stream``: the XADD until the handler is entered (the stream hop: Redis, the read loop, the
  ordering lanes);
- ``prepare``: validation, the desk, the legs;
- ``lock``: the intent lock (the kill switch is read in the same round trip's time);
- ``claim``: the statement that accepts the intent and inserts the PENDING order row (committed
  before anything is sent: the crash-safety of "exactly one order", docs/s4-router.md);
- ``venue``: ccxt's ``create_order`` until the paper venue's answer is parsed, and ``venue
  handling``, the venue's own time for it (its ``X-Chimera-Handling-Us`` header).

The probes wrap functions at module level (a benchmark, not product code). Not a test.

    .venv/bin/python scripts/bench/s4_hops.py [--intents 300] [--pause-ms 20]
        [--cpu-wake-latency-us 0]
"""

from __future__ import annotations

import argparse
import contextvars
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import s4_router as bench

from chimera.venues import orders as venue_orders
from handlers.s4_router import handlers as s4_handlers
from handlers.s4_router.router import Router
from handlers.s4_router.store import OrderStore

HOPS = (
    ("stream", "xadd", "handler"),
    ("prepare", "handler", "lock>"),
    ("lock", "lock>", "lock<"),
    ("claim", "claim>", "claim<"),
    ("venue", "venue>", "venue<"),
    ("whole path", "xadd", "venue<"),
)
marks: dict[str, dict[str, float]] = defaultdict(dict)
handling_ms: dict[str, float] = {}
current = contextvars.ContextVar[str]("current", default="")


def probe(owner: Any, name: str, label: str) -> None:
    """Record when ``owner.name`` is entered and left, for the intent being handled."""
    original: Callable[..., Awaitable[Any]] = getattr(owner, name)

    async def probed(*args: Any, **kwargs: Any) -> Any:
        stamps = marks[current.get()]
        stamps[f"{label}>"] = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            stamps[f"{label}<"] = time.perf_counter()

    setattr(owner, name, probed)


def install() -> None:
    on_intent = s4_handlers.on_intent

    async def entered(event: Any, ctx: Any) -> None:
        current.set(event.intent_id)
        marks[event.intent_id]["handler"] = time.perf_counter()
        await on_intent(event, ctx)

    s4_handlers.on_intent = entered  # bound by its dotted path when the bench loads the app
    probe(Router, "_acquire", "lock")
    probe(OrderStore, "accept_with_order", "claim")
    place_market = venue_orders.place_market

    async def placed(exchange: Any, *args: Any, **kwargs: Any) -> Any:
        stamps = marks[current.get()]
        stamps["venue>"] = time.perf_counter()
        order = await place_market(exchange, *args, **kwargs)
        stamps["venue<"] = time.perf_counter()
        header = exchange.last_response_headers.get("X-Chimera-Handling-Us", 0)
        handling_ms[current.get()] = float(header) / 1000
        return order

    venue_orders.place_market = placed

    xadd_intent = bench.xadd_intent

    async def stamped(redis: Any, intent: Any) -> None:
        marks[intent.intent_id]["xadd"] = time.perf_counter()
        await xadd_intent(redis, intent)

    bench.xadd_intent = stamped


def report(market: str, warmup: int) -> None:
    ids = [i for i in marks if f"-{market}-" in i][warmup:]
    for hop, start, end in HOPS:
        values = sorted((marks[i][end] - marks[i][start]) * 1000 for i in ids)
        print(
            f"{market:4s} {hop:14s} n={len(values)} p50={bench.pct(values, 0.5):.3f} "
            f"p90={bench.pct(values, 0.9):.3f} p99={bench.pct(values, 0.99):.3f} ms"
        )
    handled = sorted(handling_ms[i] for i in ids if i in handling_ms)
    print(
        f"{market:4s} {'venue handling':14s} n={len(handled)} p50={bench.pct(handled, 0.5):.3f} "
        f"p90={bench.pct(handled, 0.9):.3f} p99={bench.pct(handled, 0.99):.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--intents", type=int, default=300)
    parser.add_argument("--pause-ms", type=float, default=0.0, help="idle time between intents")
    bench.add_wake_option(parser)
    args = parser.parse_args()
    bench.pause_s = args.pause_ms / 1000
    install()
    bench.after_market = lambda market: report(market, bench.WARMUP)
    with bench.cpu_wake(args):
        uvloop.run(bench.run(args.intents, False, False, True))


if __name__ == "__main__":
    main()
