"""Read recorded Binance raw websocket captures (``<recv_ns> <combined-stream JSON>`` per line).

One line of a capture is a REST depth snapshot (``lastUpdateId``/``bids``/``asks``) taken while
recording; the reader yields it first so the hub starts its book from it, then every message in
file order with its JSON ``data`` bytes untouched. Venue time of a line is its receive time shifted
onto the exchange's clock (by the first message's ``E``), so lines without ``E`` (spot's
``bookTicker``) still have one. A capture has no mark price, so for a futures capture the reader
adds a ``markPriceUpdate`` (mark = bookTicker mid, flat funding rate) every second of venue time.
A corrupt line stops the reader with its file and line number.
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, cast

import msgspec

from chimera.paper.market.events import (
    DECODERS,
    BookSnapshot,
    BookTickerMsg,
    Channel,
    DepthUpdate,
    MarketEvent,
    MarkPriceMsg,
    SnapshotMsg,
    SourceItem,
    fmt,
)
from chimera.paper.market.hub import DEFAULT_FUNDING_RATE, next_funding_ms
from chimera.paper.markets import VenueKind
from chimera_workers.errors import ChimeraError

PRELUDE_LINES = 100_000  # how far into a capture its depth snapshot may sit
_EIGHT = Decimal("0.00000001")
_encode = msgspec.json.Encoder().encode


class CaptureError(ChimeraError):
    """A capture file is unreadable or malformed."""


class _Envelope(msgspec.Struct, frozen=True):
    stream: str
    data: msgspec.Raw


_decode_envelope = msgspec.json.Decoder(_Envelope)
_decode_snapshot = msgspec.json.Decoder(SnapshotMsg)


def _channel_of(stream: str) -> Channel | None:
    parts = stream.split("@")
    if len(parts) < 2:
        return None
    word = parts[1]
    if word == "depth":
        return "depth"
    if word in ("trade", "bookTicker", "markPrice"):
        return word  # type: ignore[return-value]
    return None


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class _Line(msgspec.Struct):
    lineno: int
    recv_ms: int
    stream: str | None
    channel: Channel | None
    raw: bytes
    parsed: object


def _parse_lines(path: Path) -> Iterator[_Line]:
    try:
        with _open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if line:
                    yield _parse_line(path, lineno, line)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CaptureError(f"{path}: cannot read the capture: {exc}") from exc


def _parse_line(path: Path, lineno: int, line: bytes) -> _Line:
    head, sep, body = line.partition(b" ")
    where = f"{path}:{lineno}"
    if not sep or not head.isdigit():
        raise CaptureError(f"{where}: expected '<receive_ns> <json>'", hint="is this a capture?")
    recv_ms = int(head) // 1_000_000
    try:
        if body.startswith(b'{"stream"'):
            env = _decode_envelope.decode(body)
            channel = _channel_of(env.stream)
            raw = bytes(env.data)
            parsed = DECODERS[channel].decode(raw) if channel else None
            return _Line(lineno, recv_ms, env.stream, channel, raw, parsed)
        snapshot = _decode_snapshot.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CaptureError(f"{where}: malformed message: {exc}") from exc
    return _Line(lineno, recv_ms, None, None, body, snapshot)


def read_capture(path: str | Path) -> Iterator[SourceItem]:
    """Yield a capture's depth snapshot, then its messages, as venue events (fail fast)."""
    path = Path(path)
    lines = _parse_lines(path)
    prelude: list[_Line] = []
    snapshot: _Line | None = None
    for line in lines:
        if line.stream is None:
            snapshot = line
            break
        prelude.append(line)
        if len(prelude) > PRELUDE_LINES:
            break
    if snapshot is None:
        raise CaptureError(
            f"{path}: no REST depth snapshot line in the first {PRELUDE_LINES} lines",
            hint="a capture needs one line with lastUpdateId/bids/asks to start the book from",
        )
    snap: SnapshotMsg = snapshot.parsed  # type: ignore[assignment]
    perp = snap.E is not None or any(
        isinstance(x.parsed, DepthUpdate) and x.parsed.pu is not None for x in prelude
    )
    kind: VenueKind = "perp" if perp else "spot"
    offset = _clock_offset([*prelude, snapshot])
    first = prelude[0] if prelude else snapshot
    symbol = _symbol_of(prelude) or ""
    yield BookSnapshot(
        first.recv_ms + offset, kind, symbol, snap.lastUpdateId, snap.bids, snap.asks
    )
    yield from _events(path, kind, offset, _chain(path, prelude, lines))


def _chain(path: Path, prelude: list[_Line], rest: Iterator[_Line]) -> Iterator[_Line]:
    yield from prelude
    for line in rest:
        if line.stream is None:
            raise CaptureError(f"{path}:{line.lineno}: a second depth snapshot is not supported")
        yield line


def _clock_offset(lines: list[_Line]) -> int:
    for line in lines:
        event_ms = getattr(line.parsed, "E", None)
        if event_ms:
            return int(event_ms) - line.recv_ms
    return 0


def _symbol_of(lines: list[_Line]) -> str | None:
    for line in lines:
        symbol = getattr(line.parsed, "s", None)
        if symbol:
            return str(symbol)
    return None


def _events(
    path: Path, kind: VenueKind, offset: int, lines: Iterable[_Line]
) -> Iterator[MarketEvent]:
    next_mark_ms = 0
    mid: Decimal | None = None
    for line in lines:
        if line.channel is None or line.parsed is None:
            continue  # a stream the venue does not serve (kline, aggTrade...)
        ts = line.recv_ms + offset
        parsed = line.parsed
        symbol: str = parsed.s  # type: ignore[attr-defined]
        if kind == "perp" and mid is not None and ts >= next_mark_ms:
            if next_mark_ms:
                yield _mark_event(symbol, next_mark_ms, mid)
            next_mark_ms = ts - ts % 1000 + 1000
        if isinstance(parsed, BookTickerMsg):
            mid = ((parsed.b + parsed.a) / 2).quantize(_EIGHT)
        stream: str = line.stream  # type: ignore[assignment]
        yield MarketEvent(ts, kind, symbol, line.channel, stream, line.raw, parsed)  # type: ignore[arg-type]


def _mark_event(symbol: str, ts: int, mark: Decimal) -> MarketEvent:
    due = next_funding_ms(ts)
    rate = DEFAULT_FUNDING_RATE
    msg = {
        "e": "markPriceUpdate",
        "E": ts,
        "s": symbol,
        "p": fmt(mark),
        "i": fmt(mark),
        "P": fmt(mark),
        "r": fmt(rate),
        "T": due,
    }
    parsed = MarkPriceMsg(symbol, mark, rate, due, ts, mark, mark)
    stream = f"{symbol.lower()}@markPrice@1s"
    return MarketEvent(ts, "perp", symbol, "markPrice", stream, _encode(msg), parsed)


def replay_source(paths: Iterable[str | Path]) -> Iterator[SourceItem]:
    """Merge several captures (e.g. spot and futures) into one venue-time-ordered stream."""
    return heapq.merge(*(read_capture(p) for p in paths), key=lambda item: item.ts_ms)
