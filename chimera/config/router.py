"""The ``router:`` section of a config bundle: S4's routing parameters (spec §A S4).

Every field has a default, so a bundle without a ``router:`` section routes as documented in
docs/s4-router.md. Durations are milliseconds.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

PositiveMs = Annotated[int, msgspec.Meta(gt=0, le=86_400_000)]
NonNegativeMs = Annotated[int, msgspec.Meta(ge=0, le=86_400_000)]


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """S4's routing parameters: maker wait, TWAP defaults, uncertainty and lock timings."""

    # MAKER_TAKER: how long a post-only order rests at the touch before the rest is taken.
    maker_wait_ms: NonNegativeMs = 2_000
    # How often a resting maker order is polled while waiting (it may fill early).
    maker_poll_ms: PositiveMs = 100
    # TWAP: the slice interval when the intent gives none, and the most slices one intent may have.
    twap_interval_ms: PositiveMs = 30_000
    twap_max_slices: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 100
    # A TWAP slice that could not be placed (venue busy, outcome unknown) is retried this late.
    twap_retry_ms: PositiveMs = 1_000
    # Due slices one TWAP tick places at most (the rest wait for the next tick).
    twap_batch: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 50
    # An UNKNOWN order the venue does not list is re-sent only this long after it was sent:
    # longer than the recvWindow a delayed request is accepted within, so it can no longer land.
    unknown_resend_after_ms: NonNegativeMs = 11_000
    # Fills a re-read finds this long after they happened (venue clock) raise a FILL_FOUND_LATE
    # alert: S4, and S6 after it, did not know about them for that long.
    late_fill_alert_ms: NonNegativeMs = 5_000
    # One intent is routed by one process at a time (lock:{exec}:intent:<id>). The lock is a
    # lease of intent_lock_lease_ms, renewed while the routing process lives (a SIGKILLed one
    # frees it within the lease), for at most intent_lock_ttl_ms (a hung one frees it then).
    intent_lock_ttl_ms: PositiveMs = 60_000
    intent_lock_lease_ms: Annotated[int, msgspec.Meta(ge=300, le=600_000)] = 5_000
    intent_lock_wait_ms: NonNegativeMs = 2_000
    # A BookEvent on the market stream older than this is not used for mid_at_send/top3; the
    # venue's order book is read instead.
    book_max_age_ms: PositiveMs = 2_000
    # router_p95 is published at most this often, over the last routing latencies.
    metrics_interval_ms: PositiveMs = 10_000
    # OCO: the stop leg is a STOP_LOSS_LIMIT whose limit sits this many basis points beyond the
    # stop (below it for the long's sell), so a fast market still fills it.
    oco_stop_limit_bps: Annotated[int, msgspec.Meta(ge=0, le=5_000)] = 50
    # GuardStop: the guard:{stop}:<symbol>:<intent_id> hash lives this long (a long TTL: a
    # position may stay open for weeks; the guard is disarmed explicitly when it ends).
    guard_ttl_ms: Annotated[int, msgspec.Meta(gt=0, le=90 * 86_400_000)] = 30 * 86_400_000
    # The s4-guard binding re-reads one intent's exit legs at the venue at most this often
    # per process while the price sits beyond a take-profit (or an OCO's stop).
    exit_check_ms: NonNegativeMs = 500

    def __post_init__(self) -> None:
        if self.intent_lock_lease_ms > self.intent_lock_ttl_ms:
            raise ValueError(
                f"intent_lock_lease_ms ({self.intent_lock_lease_ms}) must be at most "
                f"intent_lock_ttl_ms ({self.intent_lock_ttl_ms})"
            )
        # The intent lock is held while a maker order rests; it must outlive the wait.
        if self.maker_wait_ms > self.intent_lock_ttl_ms // 2:
            raise ValueError(
                f"maker_wait_ms ({self.maker_wait_ms}) must be at most half of "
                f"intent_lock_ttl_ms ({self.intent_lock_ttl_ms})"
            )


__all__ = ["RouterConfig"]
