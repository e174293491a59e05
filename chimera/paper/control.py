"""``PaperControl``: an async client of the venue's ``/_paper`` endpoints, for tests."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec

from chimera.paper.faults import FaultRule


class PaperControlError(Exception):
    """The venue refused a control request."""


class PaperControl:
    """Arm faults, drop websockets and read the status of a running paper venue."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PaperControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, body: bytes | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"} if body is not None else None
        url = self.base_url + path
        async with self._session.request(method, url, data=body, headers=headers) as resp:
            payload = await resp.read()
            if resp.status >= 400:
                raise PaperControlError(f"{method} {path} -> {resp.status}: {payload.decode()}")
            return msgspec.json.decode(payload)

    async def arm_fault(self, rule: FaultRule) -> dict[str, Any]:
        """Arm one fault rule; returns ``{"armed": rule, "dropped": n}``."""
        result: dict[str, Any] = await self._request(
            "POST", "/_paper/faults", msgspec.json.encode(rule)
        )
        return result

    async def faults(self) -> list[FaultRule]:
        """Return the armed rules."""
        raw = await self._request("GET", "/_paper/faults")
        return msgspec.convert(raw, list[FaultRule])

    async def clear_faults(self) -> None:
        """Disarm every rule."""
        await self._request("DELETE", "/_paper/faults")

    async def drop_websockets(self) -> int:
        """Close every open websocket; return how many were closed."""
        result = await self._request("POST", "/_paper/ws/drop")
        return int(result["dropped"])

    async def status(self) -> dict[str, Any]:
        """Return the venue's clock, mode, instruments and last update ids."""
        result: dict[str, Any] = await self._request("GET", "/_paper/status")
        return result
