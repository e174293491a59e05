"""Shutdown helpers: a swallowed cancellation must not hang a stop."""

from __future__ import annotations

import asyncio

import pytest

from chimera_workers.errors import cancel_and_wait, raise_if_cancelling


async def test_cancel_and_wait_recancels_a_task_that_swallowed_its_cancellation() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 0:  # a library turning the first cancel into "retry later"
                    swallowed += 1
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise

    async def failing() -> None:
        raise ValueError("reported elsewhere")

    tasks = [asyncio.create_task(stubborn()), asyncio.create_task(failing())]
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(tasks, grace_s=0.05), 5)
    assert swallowed == 1
    assert all(t.done() for t in tasks)
    assert tasks[0].cancelled()


async def test_raise_if_cancelling_turns_a_converted_cancel_back_into_cancellation() -> None:
    async def converts() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            try:
                raise TimeoutError("what a library made of the cancel") from None
            except TimeoutError:
                raise_if_cancelling()
                raise AssertionError("the loop would have retried here") from None

    task = asyncio.create_task(converts())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
