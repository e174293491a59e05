"""The venue's test-control endpoints under ``/_paper/``: faults, websocket drops, status."""

from __future__ import annotations

import msgspec
from aiohttp import web

from chimera.paper.faults import FaultRule
from chimera.paper.server.errors import MANDATORY_PARAM_EMPTY_OR_MALFORMED, binance_error
from chimera.paper.server.keys import FAULTS, HUB, WS_REGISTRY
from chimera.paper.server.market_views import json_response

_decode_rule = msgspec.json.Decoder(FaultRule).decode


async def list_faults(request: web.Request) -> web.Response:
    """Return the armed fault rules."""
    return json_response(request.app[FAULTS].armed())


async def arm_fault(request: web.Request) -> web.Response:
    """Arm one ``FaultRule`` (JSON body); a ``ws_drop`` rule acts on open sockets at once."""
    try:
        rule = _decode_rule(await request.read())
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return binance_error(400, MANDATORY_PARAM_EMPTY_OR_MALFORMED, f"bad fault rule: {exc}")
    if rule.count == 0 or rule.count < -1:
        return binance_error(400, MANDATORY_PARAM_EMPTY_OR_MALFORMED, "count must be >= 1 or -1")
    request.app[FAULTS].arm(rule)
    dropped = await request.app[WS_REGISTRY].sweep() if rule.kind == "ws_drop" else 0
    return json_response({"armed": rule, "dropped": dropped})


async def clear_faults(request: web.Request) -> web.Response:
    """Disarm every fault rule."""
    request.app[FAULTS].clear()
    return json_response({"cleared": True})


async def drop_websockets(request: web.Request) -> web.Response:
    """Close every open websocket connection now."""
    dropped = await request.app[WS_REGISTRY].drop_all()
    return json_response({"dropped": dropped})


async def status(request: web.Request) -> web.Response:
    """Return the clock, mode, instruments and their last update ids."""
    body = request.app[HUB].status()
    body["websockets"] = len(request.app[WS_REGISTRY])
    body["faults"] = request.app[FAULTS].armed()
    return json_response(body)


def add_routes(app: web.Application) -> None:
    """Register ``/_paper/...``."""
    app.router.add_get("/_paper/faults", list_faults)
    app.router.add_post("/_paper/faults", arm_fault)
    app.router.add_delete("/_paper/faults", clear_faults)
    app.router.add_post("/_paper/ws/drop", drop_websockets)
    app.router.add_get("/_paper/status", status)
