"""The error tree: one base, a retry signal, and the classifier the runner consults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import msgspec
import redis.exceptions


class ChimeraError(Exception):
    """Base of every error Chimera raises on purpose; ``hint`` tells the user what to do."""

    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(ChimeraError):
    """A configuration file, CLI argument or topology is invalid."""


class PayloadError(ChimeraError):
    """A stream payload does not match its declared type."""


class ServerUnavailable(ChimeraError):
    """Redis or PostgreSQL cannot be reached."""


class Retry(ChimeraError):
    """Raise from a handler to ask for another delivery after ``delay_ms`` (or the backoff)."""

    retryable = True

    def __init__(self, message: str = "retry requested", *, delay_ms: int | None = None) -> None:
        super().__init__(message)
        self.delay_ms = delay_ms


_PERMANENT: tuple[type[BaseException], ...] = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
)
_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    OSError,
)


_OUTAGE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    ConnectionError,
)


def is_outage(exc: BaseException) -> bool:
    """Tell whether ``exc`` means a server is unreachable rather than that the event is bad.

    The runner retries such failures in place without spending the event's delivery
    attempts, so a Redis or PostgreSQL restart never dead-letters healthy events.
    """
    if isinstance(exc, ChimeraError):
        return isinstance(exc, ServerUnavailable)
    return isinstance(exc, _OUTAGE) or _is_pg_connection_error(exc)


def _is_pg_connection_error(exc: BaseException) -> bool:
    # asyncpg is imported lazily: the error tree must not require it.
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        exc,
        asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.exceptions.CannotConnectNowError,
    ) or (isinstance(exc, asyncpg.exceptions.InterfaceError) and "connection" in str(exc))


def should_retry(exc: BaseException) -> bool:
    """Classify ``exc``: True means another delivery may succeed, False means dead-letter now.

    Programming and data errors (bad payloads, type errors) never heal by retrying, so they go
    straight to the dead-letter stream; connectivity errors and unknown exceptions are retried
    up to the binding's ``max_deliveries``.
    """
    if isinstance(exc, ChimeraError):
        return exc.retryable
    if isinstance(exc, _TRANSIENT):
        return True
    return not isinstance(exc, _PERMANENT)


def raise_if_cancelling() -> None:
    """Re-raise a cancellation that a library turned into another error.

    On Python 3.11, ``asyncio.timeout`` (which redis-py wraps around socket reads) can turn a
    task's cancellation into ``TimeoutError`` when the two race; a loop that retries on
    timeouts would then swallow its own shutdown. Call this first in every handler of
    transient errors inside a loop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, grace_s: float = 5.0, attempts: int = 5
) -> None:
    """Cancel ``tasks`` and wait until every one has ended.

    A library may swallow a cancellation (see :func:`raise_if_cancelling`), leaving a task
    running; such a task is cancelled again, up to ``attempts`` times ``grace_s``, before the
    stragglers are logged and left behind rather than hanging the caller's shutdown.
    """
    every = list(tasks)
    pending = {t for t in every if not t.done()}
    for _ in range(attempts):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
    for task in pending:
        logging.getLogger(__name__).error("task %s ignored %d cancellations", task, attempts)
    for task in every:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the caller is stopping, errors were reported already
