"""SPOT GuardStop entries: a market buy, a LIMIT_MAKER take-profit, and a stop S4 watches itself.

For venues or symbols without a native OCO (or when chosen): after the buy (leg ``mk``) S4 rests
a take-profit ``LIMIT_MAKER`` sell of the bought quantity at ``tp_price`` (leg ``gt``) and arms
``guard:{stop}:<symbol>:<intent_id>``: a HASH with ``state`` (ARMED → FIRING → FIRED, or
DISARMED), ``armed`` (1 / 0), ``armed_at`` / ``fired_at`` / ``disarmed_at`` (ms), ``trigger``
(``sl_price``), ``tp_price``, ``qty``, ``side`` (the exit's: ``sell``), ``tp_client_order_id``,
``symbol``, ``intent_id``; TTL ``router.guard_ttl_ms``. Arming also puts the intent in the
symbol's watch indexes (``brackets.watch``); one Lua script does all of it, once.

The ``s4-guard`` binding (``handlers.s4_router.guard``) fires a guard when a market price is at or
below its trigger: under the intent's fenced lock, the hash moves ARMED → FIRING (compare-and-set
in Lua), the take-profit is cancelled FIRST, then what it has not sold is sold at market (leg
``gs``), then FIRING → FIRED and the intent leaves the indexes. Every step is idempotent by client
order id, so a stop-out interrupted half-way is finished by the next event, and two workers seeing
the trigger make one sale. A take-profit that filled first disarms the guard (ARMED → DISARMED).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

from chimera import names
from chimera.domain.orders import OrderIntent
from chimera_workers.connections import RedisClient
from handlers.s4_router import brackets
from handlers.s4_router.desk import Leg, OrderDesk
from handlers.s4_router.ids import LEG_GUARD_STOP, LEG_GUARD_TP, client_order_id
from handlers.s4_router.runtime import now_ms
from handlers.s4_router.store import OrderRecord

ARMED, FIRING, FIRED, DISARMED = "ARMED", "FIRING", "FIRED", "DISARMED"
GUARD_FIRED = "GUARD_FIRED"
GUARD_DISARMED = "GUARD_DISARMED"

# KEYS: hash, below index, above index. ARGV: ttl ms, intent id, trigger, tp price, fields...
_ARM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
"""
# KEYS: hash, below index, above index. ARGV: from states (comma-separated), to state, armed,
# time field, time, intent id, 1 to leave the indexes.
_MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
for from in string.gmatch(ARGV[1], '[^,]+') do
  if state == from then
    redis.call('HSET', KEYS[1], 'state', ARGV[2], 'armed', ARGV[3], ARGV[4], ARGV[5])
    if ARGV[7] == '1' then
      redis.call('ZREM', KEYS[2], ARGV[6])
      redis.call('ZREM', KEYS[3], ARGV[6])
    end
    return 1
  end
end
return 0
"""


def _keys(symbol: str, intent_id: str) -> list[str]:
    return [
        names.guard_stop_key(symbol, intent_id),
        names.guard_below_index_key(symbol),
        names.guard_above_index_key(symbol),
    ]


async def read(redis: RedisClient, symbol: str, intent_id: str) -> dict[str, str]:
    """Return the guard hash (empty when there is none)."""
    raw: dict[Any, Any] = await redis.hgetall(names.guard_stop_key(symbol, intent_id))
    return {_text(k): _text(v) for k, v in raw.items()}


async def arm(desk: OrderDesk, tp: OrderRecord, qty: Decimal) -> bool:
    """Arm the intent's guard once; return False if it existed (armed, fired or disarmed)."""
    intent = desk.intent
    assert intent.sl_price is not None and tp.price is not None
    trigger = desk.price(intent.sl_price)
    fields = {
        "state": ARMED,
        "armed": "1",
        "armed_at": str(now_ms()),
        "trigger": str(trigger),
        "tp_price": str(tp.price),
        "qty": str(qty),
        "side": "sell",
        "tp_client_order_id": tp.client_order_id,
        "symbol": intent.symbol,
        "intent_id": intent.intent_id,
    }
    args: list[str] = [str(desk.config.guard_ttl_ms), intent.intent_id, str(trigger), str(tp.price)]
    for name, value in fields.items():
        args += [name, value]
    keys = _keys(intent.symbol, intent.intent_id)
    return bool(await desk.redis.eval(_ARM, 3, *keys, *args))


async def move(
    redis: RedisClient, symbol: str, intent_id: str, sources: tuple[str, ...], target: str
) -> bool:
    """Compare-and-set the guard's state from one of ``sources`` to ``target``."""
    done = target in (FIRED, DISARMED)
    field = {FIRING: "firing_at", FIRED: "fired_at", DISARMED: "disarmed_at"}[target]
    args = [",".join(sources), target, "0", field, str(now_ms()), intent_id, "1" if done else "0"]
    keys = _keys(symbol, intent_id)
    return bool(await redis.eval(_MOVE, 3, *keys, *args))


async def run(desk: OrderDesk, intent: OrderIntent) -> list[OrderRecord]:
    """Buy, rest the take-profit, arm the guard (or continue a stop-out); return every order."""
    started = now_ms()
    entry = await brackets.buy(desk, intent)
    qty = await brackets.protected_qty(desk, entry)
    if qty > 0:
        assert intent.tp_price is not None
        leg = Leg(
            LEG_GUARD_TP, "LIMIT_MAKER", "sell", qty, desk.price(intent.tp_price), purpose="TP"
        )
        tp = await desk.ensure(leg)
        if tp.is_open and tp.status not in brackets.UNSETTLED and tp.updated_ts_ms < started:
            tp = await desk.refresh(tp)
        if tp.status == "REJECTED" and tp.message.startswith("POST_ONLY_WOULD_CROSS"):
            await brackets.exit_at_market(desk, qty)  # the take-profit is already reached
        elif tp.is_open and tp.status not in brackets.UNSETTLED:
            await arm(desk, tp, qty)
        elif tp.status == "FILLED":
            await _disarm(desk, tp)
        guard = await read(desk.redis, intent.symbol, intent.intent_id)
        if guard.get("state") == FIRING:
            await fire(desk)
    return await desk.store.orders_of(intent.intent_id)


async def take_profit_check(desk: OrderDesk) -> str:
    """Re-read the take-profit after the price reached it; disarm the guard if it filled."""
    intent = desk.intent
    guard = await read(desk.redis, intent.symbol, intent.intent_id)
    if guard.get("state") != ARMED:
        return await fire(desk) if guard.get("state") == FIRING else guard.get("state", "")
    tp = await desk.store.order(guard["tp_client_order_id"])
    if tp is None:
        return ARMED
    if tp.is_open:
        tp = await desk.refresh(tp)
    if tp.status == "FILLED":
        await _disarm(desk, tp)
        return DISARMED
    return ARMED


async def _disarm(desk: OrderDesk, tp: OrderRecord) -> None:
    intent = desk.intent
    if await move(desk.redis, intent.symbol, intent.intent_id, (ARMED, FIRING), DISARMED):
        await _event(desk, GUARD_DISARMED, {"tp_client_order_id": tp.client_order_id})


async def fire(desk: OrderDesk) -> str:
    """Stop out (caller holds the intent lock): cancel the take-profit, then sell the rest.

    Return the guard's state afterwards (FIRING while a step's outcome is not known yet).
    """
    intent = desk.intent
    guard = await read(desk.redis, intent.symbol, intent.intent_id)
    state = guard.get("state")
    if state not in (ARMED, FIRING):
        await brackets.unwatch(desk.redis, intent.symbol, intent.intent_id)
        return state or ""
    if state == ARMED:
        await move(desk.redis, intent.symbol, intent.intent_id, (ARMED,), FIRING)
    tp = await desk.store.order(guard["tp_client_order_id"])
    assert tp is not None
    if tp.is_open:  # cancel FIRST: the shares it holds are what the stop sells
        tp = await desk.cancel(tp)
    if tp.is_open:
        return FIRING
    try:
        rest = desk.amount(Decimal(guard["qty"]) - tp.filled_qty)
    except ccxt.BaseError:
        rest = Decimal(0)  # less than one lot left
    if rest <= 0:
        await _disarm(desk, tp)
        return DISARMED
    sale = await desk.ensure(Leg(LEG_GUARD_STOP, "MARKET", "sell", rest, purpose="SL"))
    if sale.status in brackets.UNSETTLED:
        return FIRING
    if await move(desk.redis, intent.symbol, intent.intent_id, (FIRING,), FIRED):
        body = {
            "trigger": guard["trigger"],
            "tp_client_order_id": tp.client_order_id,
            "tp_status": tp.status,
            "client_order_id": sale.client_order_id,
            "status": sale.status,
            "qty": str(rest),
            "filled_qty": str(sale.filled_qty),
            "avg_price": None if sale.avg_price is None else str(sale.avg_price),
        }
        await _event(desk, GUARD_FIRED, body)
    return FIRED


async def _event(desk: OrderDesk, kind: str, body: dict[str, Any]) -> None:
    intent = desk.intent
    body = {"guard": names.guard_stop_key(intent.symbol, intent.intent_id), **body}
    await desk.store.add_event(
        f"{kind}:{intent.intent_id}", kind, intent.symbol, intent.intent_id, body, now_ms()
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stop_client_order_id(intent_id: str) -> str:
    """Return the client order id of the guard's stop-out market sell."""
    return client_order_id(intent_id, LEG_GUARD_STOP)


__all__ = [
    "ARMED",
    "DISARMED",
    "FIRED",
    "FIRING",
    "GUARD_DISARMED",
    "GUARD_FIRED",
    "arm",
    "fire",
    "move",
    "read",
    "run",
    "stop_client_order_id",
    "take_profit_check",
]
