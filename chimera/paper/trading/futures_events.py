"""The USDⓈ-M user-data events: ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ALGO_UPDATE, config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chimera.paper.trading import margin
from chimera.paper.trading.model import AlgoOrder, Fill, Order
from chimera.paper.trading.numbers import plain_str

if TYPE_CHECKING:
    from chimera.paper.trading.futures import FuturesEngine


def order_trade_update(
    order: Order, fill: Fill | None, exec_type: str, now_ms: int
) -> dict[str, Any]:
    """Return ``ORDER_TRADE_UPDATE`` for one order change."""
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": fill.time_ms if fill else now_ms,
        "o": {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": plain_str(order.orig_qty),
            "p": plain_str(order.price),
            "ap": plain_str(order.avg_price),
            "sp": plain_str(order.stop_price),
            "x": exec_type,
            "X": order.status,
            "i": order.order_id,
            "l": plain_str(fill.qty) if fill else "0",
            "z": plain_str(order.executed_qty),
            "L": plain_str(fill.price) if fill else "0",
            "N": fill.commission_asset if fill else "USDT",
            "n": plain_str(fill.commission) if fill else "0",
            "T": fill.time_ms if fill else now_ms,
            "t": fill.trade_id if fill else 0,
            "b": "0",
            "a": "0",
            "m": fill.maker if fill else False,
            "R": order.reduce_only,
            "wt": order.working_type,
            "ot": order.orig_type or order.type,
            "ps": "BOTH",
            "cp": order.close_position,
            "rp": plain_str(fill.realized_pnl) if fill else "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        },
    }


def account_update(engine: FuturesEngine, reason: str, symbols: list[str]) -> dict[str, Any]:
    """Return ``ACCOUNT_UPDATE`` with the wallet and the positions of ``symbols``."""
    now = engine.now()
    positions = []
    for symbol in symbols:
        pos = engine.position(symbol)
        positions.append(
            {
                "s": symbol,
                "pa": plain_str(pos.amount),
                "ep": plain_str(pos.entry_price),
                "bep": plain_str(pos.entry_price),
                "cr": "0",
                "up": plain_str(margin.unrealized(pos, engine.mark(symbol))),
                "mt": pos.margin_type,
                "iw": "0",
                "ps": "BOTH",
                "ma": "USDT",
            }
        )
    wallet = plain_str(engine.wallet)
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": now,
        "a": {
            "m": reason,
            "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}],
            "P": positions,
        },
    }


def leverage_update(symbol: str, leverage: int, now_ms: int) -> dict[str, Any]:
    """Return ``ACCOUNT_CONFIG_UPDATE`` for a leverage change."""
    return {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "ac": {"s": symbol, "l": leverage},
    }


def algo_update(algo: AlgoOrder, now_ms: int) -> dict[str, Any]:
    """Return ``ALGO_UPDATE`` for one conditional-order change."""
    return {
        "e": "ALGO_UPDATE",
        "T": now_ms,
        "E": now_ms,
        "o": {
            "caid": algo.client_algo_id,
            "aid": algo.algo_id,
            "at": "CONDITIONAL",
            "o": algo.order_type,
            "s": algo.symbol,
            "S": algo.side,
            "ps": "BOTH",
            "f": algo.time_in_force,
            "q": plain_str(algo.quantity),
            "X": algo.status,
            "ai": algo.actual_order_id,
            "ap": plain_str(algo.avg_price),
            "aq": plain_str(algo.executed_qty),
            "act": "0",
            "tp": plain_str(algo.trigger_price),
            "p": plain_str(algo.price),
            "V": "EXPIRE_MAKER",
            "wt": algo.working_type,
            "pm": "NONE",
            "cp": algo.close_position,
            "pP": algo.price_protect,
            "R": algo.reduce_only,
            "tt": algo.trigger_ms,
            "gtd": 0,
        },
    }
