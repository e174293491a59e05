"""Conventions shared by every ``chimera`` subcommand: user errors, settings, the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer

from chimera_workers.errors import ChimeraError

P = ParamSpec("P")
T = TypeVar("T")

EXIT_USER_ERROR = 2


def fail(exc: ChimeraError) -> NoReturn:
    """Print ``exc`` as one line (plus its hint) on stderr and exit with code 2."""
    typer.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        typer.echo(f"hint: {exc.hint}", err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def user_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn a ``ChimeraError`` escaping ``func`` into the one-line, exit-2 failure."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except ChimeraError as exc:
            fail(exc)

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop where available (the fast path), else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)
    return uvloop.run(coro)
