"""The venue side of a treasury transfer: a small protocol, and its adapter over ccxt.

``TreasuryVenue`` is all the transfer flow needs: the venue's clock, submitting a wallet
transfer, and listing recent transfers (to resolve one whose answer never came). ``CcxtVenue``
implements it on ccxt's ``binance`` object — live Binance or the paper venue, the same code:
``transfer`` is ``POST /sapi/v1/asset/transfer`` (type ``MAIN_UMFUTURE`` / ``UMFUTURE_MAIN``),
the listing is ``GET /sapi/v1/asset/transfer`` and the clock ``GET /api/v3/time``.

Errors are split by what they say about the money: ``TransferRejected`` — the venue refused, so
nothing moved (ccxt ``ExchangeError``: insufficient balance, bad asset, auth); every other
failure (``NetworkError``: timeout, 5xx, 429, a dropped connection) is
``TransferOutcomeUnknown`` — the transfer may or may not have happened.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import ccxt.async_support as ccxt
import msgspec

from chimera.config.treasury import Account

# Chimera's wallet names -> ccxt's account types (binance maps them to MAIN / UMFUTURE).
CCXT_ACCOUNTS: dict[str, str] = {"SPOT": "spot", "FUTURES": "linear"}
# Binance's history lists at most this many rows per page; a full page may hide older rows.
LOOKUP_PAGE = 100


class VenueTransfer(msgspec.Struct, frozen=True):
    """One transfer as the venue lists it."""

    tran_id: str
    asset: str
    amount: Decimal
    timestamp_ms: int
    status: str  # Binance: CONFIRMED | PENDING | FAILED


class TransferRejected(Exception):
    """The venue refused the transfer; nothing moved."""


class TransferOutcomeUnknown(Exception):
    """The venue did not answer clearly; the transfer may or may not have happened."""


class TreasuryVenue(Protocol):
    """What the transfer flow needs from a venue."""

    async def now_ms(self) -> int:
        """Return the venue's clock (epoch ms); raise ``TransferOutcomeUnknown`` if unreachable."""
        ...

    async def submit(
        self, asset: str, amount: Decimal, from_account: Account, to_account: Account
    ) -> str:
        """Move ``amount`` of ``asset`` between wallets; return the venue's transfer id."""
        ...

    async def transfers_since(
        self, asset: str, from_account: Account, to_account: Account, since_ms: int
    ) -> list[VenueTransfer]:
        """List the venue's transfers of ``asset`` on the route since ``since_ms`` (venue clock).

        Raise ``TransferOutcomeUnknown`` when the list cannot be fetched or may be incomplete.
        """
        ...


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, ccxt.ExchangeError):
        return TransferRejected(f"{type(exc).__name__}: {exc}")
    return TransferOutcomeUnknown(f"{type(exc).__name__}: {exc}")


class CcxtVenue:
    """``TreasuryVenue`` over a ccxt ``binance`` (spot) exchange object."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    async def now_ms(self) -> int:
        try:
            return int(await self.exchange.fetch_time())
        except Exception as exc:  # every ccxt failure here means "venue not usable now"
            raise TransferOutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc

    async def submit(
        self, asset: str, amount: Decimal, from_account: Account, to_account: Account
    ) -> str:
        text = format(amount, "f")
        try:
            await self.exchange.load_markets()
            # ccxt rounds the amount to the currency's precision; refuse rather than move a
            # different amount than the one approved.
            sent = self.exchange.currency_to_precision(asset, text)
        except Exception as exc:
            raise _classify(exc) from exc
        if Decimal(sent) != amount:
            raise TransferRejected(f"the venue's {asset} precision would change {text} to {sent}")
        try:
            result = await self.exchange.transfer(
                asset, text, CCXT_ACCOUNTS[from_account], CCXT_ACCOUNTS[to_account]
            )
        except Exception as exc:
            raise _classify(exc) from exc
        tran_id = result.get("id")
        if tran_id is None:
            raise TransferOutcomeUnknown("the venue accepted the transfer without a tranId")
        return str(tran_id)

    async def transfers_since(
        self, asset: str, from_account: Account, to_account: Account, since_ms: int
    ) -> list[VenueTransfer]:
        params = {
            "fromAccount": CCXT_ACCOUNTS[from_account],
            "toAccount": CCXT_ACCOUNTS[to_account],
        }
        try:
            await self.exchange.load_markets()
            rows = await self.exchange.fetch_transfers(asset, since_ms, LOOKUP_PAGE, params)
        except Exception as exc:
            raise TransferOutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
        if len(rows) >= LOOKUP_PAGE:
            raise TransferOutcomeUnknown(
                f"the venue lists {len(rows)} transfers since {since_ms}; the page may be partial"
            )
        return [_parse(row.get("info") or {}) for row in rows]


def _parse(info: dict[str, Any]) -> VenueTransfer:
    # The raw Binance row, not ccxt's float-typed amount: money stays Decimal.
    try:
        return VenueTransfer(
            tran_id=str(info["tranId"]),
            asset=str(info["asset"]),
            amount=Decimal(str(info["amount"])),
            timestamp_ms=int(info["timestamp"]),
            status=str(info.get("status", "CONFIRMED")),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise TransferOutcomeUnknown(f"unreadable transfer record from the venue: {info}") from exc


__all__ = [
    "CCXT_ACCOUNTS",
    "CcxtVenue",
    "TransferOutcomeUnknown",
    "TransferRejected",
    "TreasuryVenue",
    "VenueTransfer",
]
