"""The free balances B8's check compares: spot (``binance``) and USDⓈ-M futures (``binanceusdm``).

Read from the venue's raw answers, not ccxt's float-typed totals, so money stays Decimal: spot
``/api/v3/account`` ``balances[].free`` and futures ``/fapi/v2|v3/account``
``assets[].availableBalance`` (what can be used for new margin or transferred out).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from chimera.venues.ccxt_factory import Exchange
from chimera_workers.errors import PayloadError


class FreeBalances(msgspec.Struct, frozen=True):
    """One asset's free balance in each wallet."""

    asset: str
    spot: Decimal
    futures: Decimal


def _decimal(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise PayloadError(f"unreadable {where} from the venue: {value!r}") from exc


def spot_free(info: dict[str, Any], asset: str) -> Decimal:
    """Return ``asset``'s free spot balance from ``/api/v3/account`` (0 when not listed)."""
    for row in info.get("balances") or []:
        if row.get("asset") == asset:
            return _decimal(row.get("free"), f"spot {asset} free balance")
    return Decimal(0)


def futures_free(info: Any, asset: str) -> Decimal:
    """Return ``asset``'s available futures balance from the account (or balance) answer."""
    rows = info.get("assets") if isinstance(info, dict) else info
    for row in rows or []:
        if isinstance(row, dict) and row.get("asset") == asset:
            return _decimal(row.get("availableBalance"), f"futures {asset} available balance")
    return Decimal(0)


async def read_free(spot: Exchange, futures: Exchange, asset: str) -> FreeBalances:
    """Return ``asset``'s free balances in both wallets, as the venue reports them now."""
    spot_balance: dict[str, Any] = await spot.fetch_balance()
    futures_balance: dict[str, Any] = await futures.fetch_balance()
    return FreeBalances(
        asset=asset,
        spot=spot_free(spot_balance.get("info") or {}, asset),
        futures=futures_free(futures_balance.get("info") or {}, asset),
    )


__all__ = ["FreeBalances", "futures_free", "read_free", "spot_free"]
