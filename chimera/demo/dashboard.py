"""The demo's terminal views: market, pipeline, positions / PnL and stream-lag tables."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec
from rich.console import Group
from rich.table import Table
from rich.text import Text

from chimera.demo.account import AccountSnapshot
from chimera.demo.lag import LagWatch, collapse
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


def _money(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def pnl_line(snapshot: AccountSnapshot) -> str:
    """Return the account's PnL in one line (quote asset; "n/a" where a read failed)."""
    if not snapshot.read_at:
        return "PnL: reading ..."
    p = snapshot.pnl
    return (
        f"PnL (USDT): realized {_money(p.realized)} (after fees {_money(p.fees)})  "
        f"unrealized {_money(p.unrealized)}  total {_money(p.total)}  "
        f"fills {'n/a' if p.fills is None else p.fills}"
    )


def positions_table(snapshot: AccountSnapshot) -> Group:
    """Render the open positions the venue reports, then the PnL line."""
    table = Table(title="positions (venue)")
    for col in ("market", "symbol", "side", "qty", "entry", "mark", "unrealized"):
        table.add_column(col, justify="left" if col in ("market", "symbol", "side") else "right",
                         no_wrap=True)  # fmt: skip
    if snapshot.positions is None:
        table.add_row("n/a" if snapshot.read_at else "...", "", "", "", "", "", "")
    elif not snapshot.positions:
        table.add_row("-", "flat", "", "", "", "", "")
    for pos in snapshot.positions or ():
        table.add_row(
            pos.market, pos.symbol, pos.side, f"{pos.qty.normalize():f}",
            _fmt(pos.entry_price), _fmt(pos.mark_price), _fmt(pos.unrealized_pnl),
        )  # fmt: skip
    return Group(table, Text(pnl_line(snapshot)))


def lag_table(watch: LagWatch, *, per_symbol: bool = True) -> Table:
    """Render lag (not yet delivered) and pending (not yet acknowledged) per consumer group;
    without ``per_symbol`` a group's per-symbol streams are summed into one row."""
    rows = watch.rows if per_symbol or watch.rows is None else collapse(watch.rows)
    table = Table(title="stream lag per consumer group",
                  caption=f"max lag seen {watch.max_lag:,}"
                          + (f" ({watch.max_lag_at})" if watch.max_lag_at else ""))  # fmt: skip
    for col in ("stream", "group", "lag", "pending"):
        table.add_column(col, justify="left" if col in ("stream", "group") else "right",
                         no_wrap=True)  # fmt: skip
    if rows is None:
        table.add_row("n/a", "", "", "")
    for row in rows or ():
        lag = "?" if row.lag is None else f"{row.lag:,}{'+' if row.lag_capped else ''}"
        table.add_row(row.stream, row.group, lag, f"{row.pending:,}")
    return table
