"""The trading venue: one account's spot and futures engines, wallet transfers, market listener."""

from __future__ import annotations

from decimal import Decimal

from chimera.paper.book import L2Book
from chimera.paper.feed import FundingSettlement, MarketState, TradePrint
from chimera.paper.markets import MarketSpec, VenueKind, markets_of
from chimera.paper.trading import errors, futures_events
from chimera.paper.trading.algo import AlgoBook
from chimera.paper.trading.futures import MARGIN_ASSET, FuturesEngine
from chimera.paper.trading.model import ZERO, Balance, Transfer, VenueState
from chimera.paper.trading.numbers import spot_str
from chimera.paper.trading.sink import EventSink
from chimera.paper.trading.spot import SpotEngine

TRANSFER_TYPES = frozenset({"MAIN_UMFUTURE", "UMFUTURE_MAIN"})


class TradingVenue:
    """Everything the signed endpoints act on; listens to the market for fills and funding."""

    def __init__(
        self,
        state: VenueState,
        markets: tuple[MarketSpec, ...],
        market: MarketState,
        sink: EventSink,
    ) -> None:
        self.state = state
        self.market = market
        self.sink = sink
        self.spot = SpotEngine(
            state.spot, state.counters, markets_of("spot", markets), market, sink
        )
        self.futures = FuturesEngine(
            state.futures, state.counters, markets_of("perp", markets), market, sink
        )
        self.algos = AlgoBook(self.futures)

    @classmethod
    def fresh_state(cls, spot_balances: dict[str, Decimal], futures_wallet: Decimal) -> VenueState:
        """Return the state of a new account with starting balances."""
        state = VenueState()
        for asset, amount in spot_balances.items():
            state.spot.balances[asset] = Balance(free=amount)
        state.futures.wallet[MARGIN_ASSET] = futures_wallet
        return state

    def now(self) -> int:
        return self.market.clock.now_ms()

    # --- wallet transfer ----------------------------------------------------------------------
    def transfer(self, transfer_type: str, asset: str, amount: Decimal) -> Transfer:
        """Move ``amount`` of ``asset`` between the spot and USDⓈ-M wallets."""
        if transfer_type not in TRANSFER_TYPES:
            raise errors.TradingError(-1002, "You are not authorized to execute this request.")
        if amount <= ZERO:
            raise errors.TradingError(-1100, "Illegal characters found in parameter 'amount'.")
        if asset != MARGIN_ASSET:
            raise errors.TradingError(-5011, "This asset is not supported for transfer.")
        spot_bal = self.spot.balance(asset)
        if transfer_type == "MAIN_UMFUTURE":
            if spot_bal.free < amount:
                raise errors.TradingError(-5013, "Asset transfer failed: insufficient balance")
            spot_bal.free -= amount
            self.futures.credit(amount)
            delta = -amount
        else:
            if self.futures.available() < amount or self.futures.wallet < amount:
                raise errors.TradingError(-5013, "Asset transfer failed: insufficient balance")
            self.futures.credit(-amount)
            spot_bal.free += amount
            delta = amount
        now = self.now()
        record = Transfer(
            tran_id=self.state.counters.next("tran"),
            asset=asset,
            amount=amount,
            type=transfer_type,
            time_ms=now,
        )
        self.state.transfers.append(record)
        self.futures.book_income("", "TRANSFER", -delta)
        self.sink.emit(
            "spot",
            {"e": "balanceUpdate", "E": now, "a": asset, "d": spot_str(delta), "T": now},
        )
        self.sink.emit("perp", futures_events.account_update(self.futures, "DEPOSIT", []))
        return record

    # --- market listener ----------------------------------------------------------------------
    def on_book(self, kind: VenueKind, symbol: str, book: L2Book, ts_ms: int) -> None:
        if kind == "spot":
            self.spot.on_book(symbol)
        else:
            self.futures.on_book(symbol)
            self.algos.on_price(symbol)

    def on_trade(self, trade: TradePrint) -> None:
        if trade.kind == "spot":
            self.spot.on_trade(trade)
        else:
            self.algos.on_price(trade.symbol, trade.price)
            self.futures.on_trade(trade)

    def on_funding(self, settlement: FundingSettlement) -> None:
        self.futures.on_funding(settlement)
