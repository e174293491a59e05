from __future__ import annotations

import msgspec


class Job(msgspec.Struct, frozen=True):
    """One unit of test work; the fields steer the handler's behaviour."""

    seq: int
    key: str = "k"
    sleep_ms: int = 0
    fail_times: int = 0
    poison: bool = False


class Done(msgspec.Struct, frozen=True):
    seq: int
    key: str
