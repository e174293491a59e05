"""Fault injection for the paper venue, switchable per test through ``/_paper/faults``.

A rule names a fault and where it applies (HTTP method and path prefix); it fires ``count`` times
(``-1``: until cleared). Tests drive it with ``PaperControl``; issue D's survival tests use it hard.
"""

from __future__ import annotations

from typing import Literal

import msgspec

FaultKind = Literal[
    "timeout_after_accept",  # the venue executes the request, then never answers
    "timeout_before_accept",  # the venue drops the request unexecuted and never answers
    "http_5xx",  # 503 with Binance's "unknown error" body, request not executed
    "http_429",  # Binance's rate-limit error (-1003), request not executed
    "reject",  # a Binance error code/message, e.g. -2010 insufficient balance
    "latency",  # extra delay before answering
    "ws_drop",  # close matching websocket connections (market or user-data)
]


class FaultRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One injected fault."""

    kind: FaultKind
    path_prefix: str = ""  # e.g. "/fapi/v1/order"; "" matches every path
    method: str | None = None  # e.g. "POST"; None matches every method
    count: int = 1  # how many requests it hits; -1 until cleared
    code: int = -2010  # for "reject": Binance's error code
    msg: str = "Account has insufficient balance for requested action."
    status: int = 400  # for "reject": HTTP status
    latency_ms: int = 0  # for "latency"


class FaultBoard:
    """The armed fault rules; ``take`` consumes one firing of the first rule that matches."""

    def __init__(self) -> None:
        self._rules: list[list[object]] = []  # [rule, remaining]

    def arm(self, rule: FaultRule) -> None:
        self._rules.append([rule, rule.count])

    def clear(self) -> None:
        self._rules.clear()

    def armed(self) -> list[FaultRule]:
        return [entry[0] for entry in self._rules]  # type: ignore[misc]

    def take(self, kinds: tuple[FaultKind, ...], method: str, path: str) -> FaultRule | None:
        """Return and consume the first armed rule of one of ``kinds`` matching the request."""
        for entry in self._rules:
            rule: FaultRule = entry[0]  # type: ignore[assignment]
            if rule.kind not in kinds:
                continue
            if rule.method is not None and rule.method.upper() != method.upper():
                continue
            if not path.startswith(rule.path_prefix):
                continue
            remaining: int = entry[1]  # type: ignore[assignment]
            if remaining > 0:
                entry[1] = remaining - 1
                if remaining == 1:
                    self._rules.remove(entry)
            return rule
        return None
