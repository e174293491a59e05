"""The demo's positions / PnL and lag tables, rendered from snapshots."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console, RenderableType

from chimera.demo.account import AccountSnapshot
from chimera.demo.dashboard import lag_table, positions_table
from chimera.demo.lag import LagRow, LagWatch, collapse
from chimera.demo.pnl import PnlTotals
from chimera.venues.positions import VenuePosition

D = Decimal


def text(table: RenderableType) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_positions_and_pnl_render_with_side_qty_entry_mark_and_unrealized() -> None:
    snap = AccountSnapshot(
        positions=(
            VenuePosition(
                "FUT", "BTCUSDT", "short", D("0.0020"), D("60000.1"), D("59990"), D("0.0202")
            ),
            VenuePosition("SPOT", "ETHUSDT", "long", D("0.5"), None, D("3000"), None),
        ),
        pnl=PnlTotals(D("-1.5"), D("0.25"), D("12.346"), 3),
        read_at=1.0,
    )
    out = text(positions_table(snap))
    cells = {
        line.split("│")[2].strip(): [c.strip() for c in line.split("│")[1:-1]]
        for line in out.splitlines()
        if "USDT │" in line
    }
    assert cells["BTCUSDT"] == ["FUT", "BTCUSDT", "short", "0.002", "60,000.10", "59,990.00",
                                "0.02"]  # fmt: skip
    assert cells["ETHUSDT"] == ["SPOT", "ETHUSDT", "long", "0.5", "-", "3,000.00", "-"]
    assert "PnL (USDT): realized -1.50 (after fees 0.25)" in out
    assert "unrealized 12.35" in out and "total 10.85" in out and "fills 3" in out


def test_failed_reads_render_na() -> None:
    assert "PnL: reading ..." in text(positions_table(AccountSnapshot()))
    out = text(positions_table(AccountSnapshot(read_at=1.0)))
    assert "│ n/a" in out and "realized n/a" in out and "total n/a" in out
    assert "flat" in text(positions_table(AccountSnapshot(positions=(), read_at=1.0)))
    watch = LagWatch([])
    assert "n/a" in text(lag_table(watch))


def test_lag_table_renders_lag_pending_and_the_max_seen() -> None:
    watch = LagWatch(["feat:events:BTCUSDT"])
    watch.rows = [
        LagRow("feat:events:BTCUSDT", "s3-decide", 1234, False, 7),
        LagRow("ord:{intents}", "s4-intents", 10_000, True, 0),
        LagRow("ord:{results}", "s6-entry", None, False, 0),
    ]
    watch.max_lag, watch.max_lag_at = 20_000, "ord:{intents} / s4-intents"
    out = text(lag_table(watch))
    row = next(line for line in out.splitlines() if "s3-decide" in line)
    assert "1,234" in row and "7" in row
    assert "10,000+" in out  # counted up to the cap on Redis < 7
    assert "?" in next(line for line in out.splitlines() if "s6-entry" in line)
    assert "max lag seen 20,000 (ord:{intents} / s4-intents)" in out


def test_the_live_lag_table_sums_each_group_over_its_symbols() -> None:
    watch = LagWatch([])
    watch.rows = [
        LagRow("mkt:events:{perp}:BTCUSDT", "s2-features", 3, False, 1),
        LagRow("mkt:events:{perp}:ETHUSDT", "s2-features", 10_000, True, 2),
        LagRow("feat:events:BTCUSDT", "s3-decide", 1, False, 0),
        LagRow("feat:events:ETHUSDT", "s3-decide", None, False, 5),
        LagRow("ord:{intents}", "s4-intents", 2, False, 0),
    ]
    assert collapse(watch.rows) == [
        LagRow("mkt:events:{perp}:*", "s2-features", 10_003, True, 3),
        LagRow("feat:events:*", "s3-decide", None, False, 5),
        LagRow("ord:{intents}", "s4-intents", 2, False, 0),
    ]
    out = text(lag_table(watch, per_symbol=False))
    assert "mkt:events:{perp}:*" in out and "10,003+" in out and "BTCUSDT" not in out
