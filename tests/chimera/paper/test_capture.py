"""Reading Binance raw websocket captures: shapes, snapshot first, fail fast on corrupt lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from chimera.paper.market.capture import CaptureError, read_capture
from chimera.paper.market.events import BookSnapshot, MarketEvent

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "binance-ws"

SNAP = b'{"lastUpdateId":10,"bids":[["100.0","1"]],"asks":[["101.0","2"]]}'
DIFF = (
    b'{"stream":"abcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000100,'
    b'"s":"ABCUSDT","U":11,"u":12,"b":[["100.0","3"]],"a":[]}}'
)
TRADE = (
    b'{"stream":"abcusdt@trade","data":{"e":"trade","E":1700000000200,"s":"ABCUSDT",'
    b'"t":5,"p":"100.0","q":"0.5","T":1700000000200,"m":true,"M":true}}'
)


def _write(tmp_path: Path, lines: list[bytes], gz: bool = True) -> Path:
    path = tmp_path / ("cap.gz" if gz else "cap.txt")
    body = b"".join(b"1700000000000000000 " + line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


def test_snapshot_comes_first_and_data_stays_verbatim(tmp_path: Path) -> None:
    items = list(read_capture(_write(tmp_path, [DIFF, SNAP, TRADE])))
    assert isinstance(items[0], BookSnapshot) and items[0].kind == "spot"
    assert items[0].last_update_id == 10 and items[0].symbol == "ABCUSDT"
    events = [i for i in items if isinstance(i, MarketEvent)]
    assert [e.channel for e in events] == ["depth", "trade"]
    assert events[1].data == TRADE[len(b'{"stream":"abcusdt@trade","data":') : -1]


def test_plain_text_captures_read_too(tmp_path: Path) -> None:
    assert len(list(read_capture(_write(tmp_path, [SNAP, TRADE], gz=False)))) == 2


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"stream":"abcusdt@trade","data":{"e":"trade"', "malformed message"),
        (b'{"stream":"abcusdt@trade","data":{"s":"ABCUSDT","t":"x"}}', "malformed message"),
    ],
)
def test_corrupt_line_names_file_and_line(tmp_path: Path, line: bytes, why: str) -> None:
    path = _write(tmp_path, [SNAP, TRADE, line])
    with pytest.raises(CaptureError, match=rf"cap\.gz:3: {why}"):
        list(read_capture(path))


def test_line_without_receive_time_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"1 " + SNAP + b"\n" + TRADE + b"\n")
    with pytest.raises(CaptureError, match=r"bad\.txt:2: expected '<receive_ns> <json>'"):
        list(read_capture(path))


def test_capture_without_snapshot_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no REST depth snapshot"):
        list(read_capture(_write(tmp_path, [DIFF, TRADE])))


def test_truncated_gzip_is_a_capture_error(tmp_path: Path) -> None:
    path = _write(tmp_path, [SNAP] + [TRADE] * 100)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_capture(path))


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data (recorded captures) is absent")
@pytest.mark.parametrize(("name", "kind"), [("usdm", "perp"), ("spot", "spot")])
def test_recorded_captures_read_whole(name: str, kind: str) -> None:
    items = list(read_capture(DATA / f"{name}_btcusdt_20240808.gz"))
    assert isinstance(items[0], BookSnapshot) and items[0].kind == kind
    channels = {i.channel for i in items[1:]}  # type: ignore[union-attr]
    assert {"depth", "trade", "bookTicker"} <= channels
    assert ("markPrice" in channels) == (kind == "perp")
    times = [i.ts_ms for i in items]
    assert times == sorted(times)
