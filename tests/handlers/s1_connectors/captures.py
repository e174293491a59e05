"""Read the recorded Binance captures in ``../shared/data/binance-ws`` (skip when absent).

Format: one message per line, ``<local_receive_ns> <combined-stream JSON>``; one line is the REST
depth snapshot (``lastUpdateId``, ``bids``, ``asks``) to start the book from.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "binance-ws"
USDM = "usdm_btcusdt_20240808.gz"
SPOT = "spot_btcusdt_20240808.gz"


def capture_path(name: str) -> Path:
    """Return the capture's path, or skip the test when ../shared/data is absent."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"recorded capture {path} is absent (../shared/data is not in this checkout)")
    return path


def capture_lines(name: str) -> Iterator[tuple[int, bytes]]:
    """Yield (local receive ns, raw JSON) for every line of the capture ``name``."""
    with gzip.open(capture_path(name), "rb") as fh:
        for line in fh:
            stamp, _, raw = line.rstrip(b"\n").partition(b" ")
            yield int(stamp), raw
