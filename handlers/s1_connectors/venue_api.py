"""Where S1 reaches the venue, and the public REST calls it makes (snapshots, trades, funding).

Live: Binance's own hosts (the ones ccxt's ``binance``/``binanceusdm`` url maps use). Paper: the
paper venue serves the same REST paths on one host:port and tells spot from futures websockets
by path (``/spot/stream``, ``/fapi/stream``). Responses are decoded with the wire decoders of
``chimera.venues.binance_wire``; an error body or an undecodable reply raises ``VenueError``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import aiohttp
import msgspec

from chimera.names import MarketKind
from chimera.venues.binance_wire import (
    DEPTH_SNAPSHOT,
    FUNDING_RATES,
    PREMIUM_INDEX,
    REST_TRADES,
    VENUE_ERROR,
    DepthSnapshot,
    FundingRateRecord,
    PremiumIndex,
    RestTrade,
)
from chimera.venues.ccxt_factory import PAPER_STREAM_PATHS
from chimera.venues.settings import VenueSettings
from chimera_workers.errors import ChimeraError, raise_if_cancelling

T = TypeVar("T")

LIVE_REST = {"spot": "https://api.binance.com", "perp": "https://fapi.binance.com"}
LIVE_STREAMS = {
    "spot": "wss://stream.binance.com:9443/stream",
    "perp": "wss://fstream.binance.com/stream",
}
_REST_PREFIX = {"spot": "/api/v3", "perp": "/fapi/v1"}


class VenueError(ChimeraError):
    """The venue answered a REST call with an error, or with something S1 cannot decode."""


class VenueEndpoints(msgspec.Struct, frozen=True):
    """REST base URL and combined-stream websocket URL of each market."""

    rest: dict[str, str]
    streams: dict[str, str]

    @classmethod
    def from_settings(cls, settings: VenueSettings) -> VenueEndpoints:
        """Binance's hosts when live; the paper venue's ``paper_url`` otherwise."""
        if settings.mode == "live":
            return cls(rest=dict(LIVE_REST), streams=dict(LIVE_STREAMS))
        base = settings.paper_url.rstrip("/")
        ws = "ws" + base[len("http") :] if base.startswith("http") else base
        return cls(
            rest={"spot": base, "perp": base},
            streams={
                "spot": ws + PAPER_STREAM_PATHS["spot"],
                "perp": ws + PAPER_STREAM_PATHS["linear"],
            },
        )

    def stream_url(self, kind: MarketKind, streams: list[str]) -> str:
        """Return the combined-stream URL subscribing to ``streams``."""
        return f"{self.streams[kind]}?streams={'/'.join(streams)}"


class MarketRest:
    """Binance's public market-data REST endpoints, for spot and USDⓈ-M futures."""

    def __init__(
        self, session: aiohttp.ClientSession, endpoints: VenueEndpoints, api_key: str | None
    ) -> None:
        self.session = session
        self.endpoints = endpoints
        # historicalTrades is a MARKET_DATA endpoint: Binance wants the API key (no signature).
        self._headers = {"X-MBX-APIKEY": api_key} if api_key else {}

    async def depth_snapshot(self, kind: MarketKind, symbol: str, limit: int) -> DepthSnapshot:
        """``GET /api/v3/depth`` or ``/fapi/v1/depth``."""
        raw = await self._get(kind, "depth", {"symbol": symbol, "limit": limit})
        return self._decode(DEPTH_SNAPSHOT, raw, f"{kind} depth {symbol}")

    async def trades_from(
        self, kind: MarketKind, symbol: str, from_id: int, limit: int = 1000
    ) -> list[RestTrade]:
        """``GET .../historicalTrades?fromId=``: trades with id >= ``from_id``, oldest first."""
        params = {"symbol": symbol, "fromId": from_id, "limit": limit}
        raw = await self._get(kind, "historicalTrades", params)
        return self._decode(REST_TRADES, raw, f"{kind} historicalTrades {symbol}")

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """``GET /fapi/v1/premiumIndex``: mark price and the next funding rate and time."""
        raw = await self._get("perp", "premiumIndex", {"symbol": symbol})
        return self._decode(PREMIUM_INDEX, raw, f"premiumIndex {symbol}")

    async def funding_rates(
        self, symbol: str, start_ms: int, end_ms: int, limit: int = 100
    ) -> list[FundingRateRecord]:
        """``GET /fapi/v1/fundingRate``: settled fundings in [start, end], oldest first."""
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": limit}
        raw = await self._get("perp", "fundingRate", params)
        return self._decode(FUNDING_RATES, raw, f"fundingRate {symbol}")

    async def _get(self, kind: MarketKind, endpoint: str, params: dict[str, Any]) -> bytes:
        url = f"{self.endpoints.rest[kind]}{_REST_PREFIX[kind]}/{endpoint}"
        try:
            async with self.session.get(url, params=params, headers=self._headers) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise_if_cancelling()  # a stop must not turn into "venue unreachable"
            raise VenueError(f"GET {url} failed: {exc!r}", hint="is the venue reachable?") from exc
        if status != 200:
            try:
                err = VENUE_ERROR.decode(body)
                detail = f"code {err.code}: {err.msg}"
            except msgspec.DecodeError:
                detail = body[:200].decode(errors="replace")
            raise VenueError(f"GET {url} {params}: HTTP {status}, {detail}")
        return body

    @staticmethod
    def _decode(decoder: msgspec.json.Decoder[T], raw: bytes, where: str) -> T:
        try:
            return decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise VenueError(f"{where}: unexpected reply: {exc}") from exc
