"""Save and load the venue state: a small snapshot plus an append-only history, on change.

Two files in the state dir: ``trading_state.json``, the snapshot of what can still change
(rewritten atomically: temp file, fsync, rename), and ``trading_state.history.jsonl``, the
history (``chimera.paper.trading.history``), appended once per record. The snapshot records how
many bytes of the history it covers, and is written after them: a crash between the two leaves
history bytes no snapshot covers, which loading drops, so the pair always describes one moment.

A save encodes on the event loop (the state cannot change mid-encode) and writes from a thread;
a snapshot in the old single-file form (everything in one JSON) is converted on load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import msgspec

from chimera.paper.trading.history import HistoryCursor, HistoryRecord, restore
from chimera.paper.trading.model import VenueState
from chimera_workers.errors import ConfigError

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder(decimal_format="string")


class Snapshot(msgspec.Struct, kw_only=True):
    """The snapshot file: the open state and how much of the history file it covers."""

    history_bytes: int
    state: VenueState


_snapshot = msgspec.json.Decoder(Snapshot)
# Which form a file is in, by its keys: a damaged snapshot must not read as an empty old-form
# state (VenueState ignores unknown fields), which would then be saved over the account.
_top_level = msgspec.json.Decoder(dict[str, msgspec.Raw])
_whole_state = msgspec.json.Decoder(VenueState)  # the single-file form before the history file
_history = msgspec.json.Decoder(HistoryRecord)


def history_path(path: Path) -> Path:
    """Return where the history of the snapshot at ``path`` lives."""
    return path.with_name(path.stem + ".history.jsonl")


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(
        f"paper venue state {path} is not valid: {exc}",
        hint=f"move {path.name} and {history_path(path).name} away to start a fresh account",
    )


def load_state(path: Path) -> VenueState | None:
    """Return the saved state, None when there is none; refuse a corrupt file loudly."""
    history = history_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        # History that no snapshot ever covered (a crash before the first one) is not state.
        history.unlink(missing_ok=True)
        return None
    try:
        fields = _top_level.decode(data)
        if "history_bytes" not in fields:  # the old single-file form: split it once
            whole = _whole_state.decode(data)
            save_state(path, whole)
            return whole
        snapshot = _snapshot.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _unreadable(path, exc) from exc
    try:
        with history.open("r+b") as handle:
            covered = handle.read(snapshot.history_bytes)
            if len(covered) < snapshot.history_bytes:
                raise _unreadable(
                    history, ValueError(f"{len(covered)} bytes, {snapshot.history_bytes} expected")
                )
            handle.truncate(snapshot.history_bytes)  # bytes a crash left past the snapshot
    except FileNotFoundError:
        if snapshot.history_bytes:
            raise _unreadable(history, FileNotFoundError("missing")) from None
        covered = b""
    try:
        records = [_history.decode(line) for line in covered.splitlines() if line]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _unreadable(history, exc) from exc
    return restore(snapshot.state, records)


def _write_pair(path: Path, history: bytes, offset: int, snapshot: bytes) -> None:
    """Write ``history`` at ``offset`` of the history file, then the snapshot (fsync both)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = history_path(path)
    fd = os.open(log_path, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as handle:
        handle.seek(offset)
        handle.write(history)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(snapshot)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _encode_history(records: list[HistoryRecord]) -> bytes:
    return b"".join(_encoder.encode(record) + b"\n" for record in records)


def save_state(path: Path, state: VenueState) -> None:
    """Write ``state`` as a fresh snapshot and history pair, replacing any earlier one."""
    StateSaver(path, state, 0, fresh=True).save_now()


class StateSaver:
    """Save the state a short while after it changes, and once more at stop."""

    def __init__(
        self, path: Path | None, state: VenueState, debounce_ms: int, *, fresh: bool = False
    ) -> None:
        self.path = path
        self.debounce_s = debounce_ms / 1000.0
        self.saves = 0
        # fresh: nothing is written yet, so the whole history is still to journal.
        self._cursor = HistoryCursor(state, journaled=not fresh)
        self._history_bytes = 0 if fresh or path is None else _size(history_path(path))
        self._unwritten: list[HistoryRecord] = []
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None

    def changed(self) -> None:
        """Note a change; schedule a save if none is pending."""
        if self.path is None:
            return
        self._dirty = True
        if self._task is not None and not self._task.done():
            return  # the running saver loops while changes keep coming
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (unit tests driving the engine directly): saved at stop
        self._task = loop.create_task(self._save_while_dirty())

    async def _save_while_dirty(self) -> None:
        while self._dirty:
            await asyncio.sleep(self.debounce_s)
            self._dirty = False
            assert self.path is not None
            batch = self._prepare()
            loop = asyncio.get_running_loop()
            self._writing = loop.run_in_executor(None, _write_pair, self.path, *batch)
            try:
                # shield: stop() cancels this task but lets a write in flight finish.
                await asyncio.shield(self._writing)
            except OSError:
                log.exception("paper venue state not saved to %s; retrying", self.path)
                self._dirty = True
                continue
            self._written(batch)

    def _prepare(self) -> tuple[bytes, int, bytes]:
        """Encode what to write: the new history at its offset, then the snapshot."""
        self._unwritten += self._cursor.take()
        history = _encode_history(self._unwritten)
        snapshot = Snapshot(
            history_bytes=self._history_bytes + len(history), state=self._cursor.open_state()
        )
        return history, self._history_bytes, _encoder.encode(snapshot)

    def _written(self, batch: tuple[bytes, int, bytes]) -> None:
        history, offset, _ = batch
        self._history_bytes = offset + len(history)
        self._unwritten = []
        self.saves += 1

    def save_now(self) -> None:
        """Save synchronously (at stop, or with no event loop)."""
        if self.path is None:
            return
        batch = self._prepare()
        _write_pair(self.path, *batch)
        self._written(batch)

    async def stop(self) -> None:
        """Cancel a pending save, let a write in flight finish, and save now."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writing is not None and not self._writing.done():
            # Its batch stays unwritten (the task never saw it finish): save_now rewrites it
            # at the same offset, with whatever changed since.
            with contextlib.suppress(OSError):
                await self._writing
        self.save_now()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
