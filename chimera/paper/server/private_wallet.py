"""Signed wallet endpoints (``/sapi/v1``): universal transfer spot <-> USDⓈ-M, coin config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from chimera.paper.server.auth import signed
from chimera.paper.trading.numbers import spot_str
from chimera.paper.trading.requests import Params

if TYPE_CHECKING:
    from chimera.paper.trading.plugin import PaperTrading


def add_routes(app: web.Application, trading: PaperTrading) -> None:
    """Register ``/sapi/v1/asset/transfer`` (POST, GET) and ``/sapi/v1/capital/config/getall``."""
    venue = trading.venue

    def transfer(p: Params) -> dict[str, Any]:
        record = venue.transfer(
            p.text("type").upper(), p.text("asset").upper(), p.decimal("amount")
        )
        return {"tranId": record.tran_id}

    def transfer_history(p: Params) -> dict[str, Any]:
        kind = p.text("type").upper()
        start, end = p.opt_int("startTime"), p.opt_int("endTime")
        size = min(p.opt_int("size") or 10, 100)
        current = max(p.opt_int("current") or 1, 1)
        rows = [
            t
            for t in venue.state.transfers
            if t.type == kind
            and (start is None or t.time_ms >= start)
            and (end is None or t.time_ms <= end)
        ]
        rows.sort(key=lambda t: t.time_ms, reverse=True)
        page = rows[(current - 1) * size : current * size]
        return {
            "total": len(rows),
            "rows": [
                {
                    "asset": t.asset,
                    "amount": spot_str(t.amount),
                    "type": t.type,
                    "status": t.status,
                    "tranId": t.tran_id,
                    "timestamp": t.time_ms,
                }
                for t in page
            ],
        }

    def coin_config(p: Params) -> list[dict[str, Any]]:
        assets = sorted(set(venue.spot.state.balances) | {"USDT"})
        return [
            {
                "coin": a,
                "name": a,
                "depositAllEnable": False,
                "withdrawAllEnable": False,
                "free": spot_str(venue.spot.balance(a).free),
                "locked": spot_str(venue.spot.balance(a).locked),
                "trading": True,
                "networkList": [],
            }
            for a in assets
        ]

    key, secret = trading.config.api_key, trading.config.secret
    app.router.add_post(
        "/sapi/v1/asset/transfer", signed(key, secret, transfer, trading.latency.wait)
    )
    app.router.add_get("/sapi/v1/asset/transfer", signed(key, secret, transfer_history))
    app.router.add_get("/sapi/v1/capital/config/getall", signed(key, secret, coin_config))
