"""Save and load the venue state as msgspec JSON: atomic write-rename, debounced on change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import msgspec

from chimera.paper.trading.model import VenueState
from chimera_workers.errors import ConfigError

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(VenueState)


def load_state(path: Path) -> VenueState | None:
    """Return the saved state, None when there is none; refuse a corrupt file loudly."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"paper venue state {path} is not valid: {exc}",
            hint="move the file away to start a fresh account",
        ) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"paper venue state {path} is not JSON: {exc}",
            hint="move the file away to start a fresh account",
        ) from exc


def save_state(path: Path, state: VenueState) -> None:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(_encoder.encode(state))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class StateSaver:
    """Save the state a short while after it changes, and once more at stop."""

    def __init__(self, path: Path | None, state: VenueState, debounce_ms: int) -> None:
        self.path = path
        self.state = state
        self.debounce_s = debounce_ms / 1000.0
        self._task: asyncio.Task[None] | None = None
        self.saves = 0

    def changed(self) -> None:
        """Note a change; schedule a save if none is pending."""
        if self.path is None or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (unit tests driving the engine directly): saved at stop
        self._task = loop.create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(self.debounce_s)
        self.save_now()

    def save_now(self) -> None:
        if self.path is None:
            return
        save_state(self.path, self.state)
        self.saves += 1

    async def stop(self) -> None:
        """Cancel a pending save and save now."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.save_now()
