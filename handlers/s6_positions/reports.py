"""What a manage pass reports: the ``positions_snapshots`` row and the ``pos:events`` entries."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from chimera.domain.positions import (
    PositionEvent,
    PositionEventKind,
    PositionSnapshot,
    SnapshotSource,
)
from handlers.s6_positions import ladder
from handlers.s6_positions.position import Position
from handlers.s6_positions.snapshots import position_snapshot
from handlers.s6_positions.state import PositionState

_DIGITS = Decimal("0.000001")


class MarketView(msgspec.Struct, frozen=True):
    """What one pass knows about the market and the system."""

    marks: dict[str, Decimal]
    liquidations: dict[str, Decimal]
    health: str
    kill_switch: bool
    now_ms: int


def position_event(
    position: Position,
    kind: PositionEventKind,
    qty: Decimal,
    ts_ms: int,
    ref: str,
    price: Decimal | None,
) -> PositionEvent:
    """Return the ``pos:events`` entry of ``kind`` for ``position``."""
    return PositionEvent(
        pos_id=position.pos_id,
        kind=kind,
        symbol=position.symbol,
        side=position.side,
        qty=qty,
        ts_ms=ts_ms,
        ref=ref,
        price=price,
        entry_price=position.entry_price,
        signal_id=position.signal_id,
    )


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_DIGITS)


def snapshot_of(
    source: SnapshotSource,
    rev: int,
    leverage: Decimal,
    position: Position,
    state: PositionState,
    view: MarketView,
    mark: Decimal | None,
    move: Decimal | None,
    notes: list[str],
) -> PositionSnapshot:
    """Return the snapshot of ``position`` as this pass leaves it."""
    liq = view.liquidations.get(position.symbol)
    base = position_snapshot(
        position,
        snapshot_id=f"{position.pos_id}:{source}:{view.now_ms}",
        source=source,
        ts_ms=view.now_ms,
        rev=rev,
        reason="; ".join(notes),
        mark_price=mark,
        liq_price=liq,
    )
    return msgspec.structs.replace(
        base,
        move_r=_rounded(move),
        roe=None if mark is None else _rounded(ladder.roe(position, mark, leverage)),
        liq_distance=None if mark is None else _rounded(ladder.liquidation_distance(mark, liq)),
        sl_level=state.level,
        sl_price=None if state.stop is None else state.stop.price,
        tp_step=state.tp_done,
        add_on_count=state.adds,
    )


__all__ = ["MarketView", "position_event", "snapshot_of"]
