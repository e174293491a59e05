"""Binance's order and account errors, raised by the engine and rendered by the server.

The engine is pure Python and knows nothing of HTTP; it raises ``TradingError`` with Binance's
code, message and the HTTP status Binance pairs them with, and the handlers answer with it.
"""

from __future__ import annotations

from decimal import Decimal


class TradingError(Exception):
    """A request the venue refuses, exactly as Binance words it."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."


def invalid_symbol() -> TradingError:
    return TradingError(-1121, "Invalid symbol.")


def mandatory(name: str) -> TradingError:
    return TradingError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def bad_value(name: str) -> TradingError:
    return TradingError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is ''."
    )


def insufficient_balance() -> TradingError:
    return TradingError(-2010, INSUFFICIENT_BALANCE)


def filter_failure(name: str) -> TradingError:
    return TradingError(-1013, f"Filter failure: {name}")


def unknown_order_cancel() -> TradingError:
    return TradingError(-2011, "Unknown order sent.")


def order_does_not_exist() -> TradingError:
    return TradingError(-2013, "Order does not exist.")


def spot_duplicate_order() -> TradingError:
    return TradingError(-2010, "Duplicate order sent.")


def spot_would_take() -> TradingError:
    return TradingError(-2010, "Order would immediately match and take.")


def spot_stop_would_trigger() -> TradingError:
    return TradingError(-2010, "Stop price would trigger immediately.")


def futures_duplicate_order() -> TradingError:
    return TradingError(-4116, "ClientOrderId is duplicated.")


def futures_reduce_only_rejected() -> TradingError:
    return TradingError(-2022, "ReduceOnly Order is rejected.")


def futures_margin_insufficient() -> TradingError:
    return TradingError(-2019, "Margin is insufficient.")


def futures_min_notional(minimum: Decimal) -> TradingError:
    return TradingError(
        -4164,
        f"Order's notional must be no smaller than {minimum} (unless you choose reduce only).",
    )


def futures_post_only_rejected() -> TradingError:
    return TradingError(
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected. "
        "The order will not be recorded in the order history",
    )


def futures_fok_rejected() -> TradingError:
    return TradingError(
        -5021,
        "Due to the order could not be filled immediately, the FOK order has been rejected. "
        "The order will not be recorded in the order history",
    )


def futures_would_trigger() -> TradingError:
    return TradingError(-2021, "Order would immediately trigger.")


def futures_use_algo_endpoint() -> TradingError:
    return TradingError(
        -4120,
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints "
        "instead.",
    )


def futures_tick_size() -> TradingError:
    return TradingError(-4014, "Price not increased by tick size.")


def futures_precision() -> TradingError:
    return TradingError(-1111, "Precision is over the maximum defined for this asset.")
