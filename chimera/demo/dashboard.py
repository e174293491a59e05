"""The demo's terminal views: the live market table and the end-of-run summary."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec
from rich.table import Table

from chimera.demo.pipeline import Pipeline
from chimera.demo.tape import MarketTape


def _fmt(value: Decimal | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def market_table(title: str, tape: MarketTape, caption: str) -> Table:
    """Render one row per market stream: rate, totals, quotes and data-quality counters."""
    table = Table(title=title, caption=caption)
    columns = ("mkt:events:", "ev/s", "events", "mid / rate", "spread bp", "trades", "backfill",
               "holes", "crossed", "age")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col == "mkt:events:" else "right", no_wrap=True)
    now_ms = int(time.time() * 1000)
    for name in sorted(tape.tapes):
        t = tape.tapes[name]
        age = f"{(now_ms - t.last_entry_ms) / 1000:.1f}s" if t.last_entry_ms else "-"
        if t.funding is not None:
            mid, spread = f"{t.funding.rate:.6f}", "-"
        else:
            mid, spread = _fmt(t.mid), _fmt(t.spread_bp, 3)
        table.add_row(
            name.removeprefix("mkt:events:"), f"{t.rate:,.0f}", f"{t.total:,}", mid, spread,
            f"{t.trades:,}", f"{t.backfilled:,}", str(t.trade_holes), str(t.crossed), age,
        )  # fmt: skip
    return table


def _num(value: float | None, places: int = 3) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def pipeline_table(pipeline: Pipeline) -> Table:
    """Render one row per symbol: latest features, decisions, intents, orders and fills."""
    table = Table(title="features → decisions → orders")
    for col in ("symbol", "bars", "natr %", "rv", "dqc", "open", "skip", "top skip reason",
                "intents", "orders", "filled", "last order"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("symbol", "top skip reason",
                                                         "last order") else "right",
                         no_wrap=True)  # fmt: skip
    for symbol, v in pipeline.symbols.items():
        f = v.features.features if v.features else None
        flags = [k for k, on in msgspec.structs.asdict(f.dqc).items() if on] if f else []
        last = max(v.orders.values(), key=lambda o: o.ts_ms, default=None)
        last_text = f"{last.purpose} {last.side} {last.status}" if last else "-"
        table.add_row(
            symbol, str(v.bars),
            _num(f.natr if f else None), _num(f.rv if f else None), ",".join(flags) or "ok",
            str(v.opens), str(v.skips), v.top_skip(), str(v.intents), str(len(v.orders)),
            str(v.fills()), last_text,
        )  # fmt: skip
    return table
