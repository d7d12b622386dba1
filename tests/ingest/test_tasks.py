"""cancel_and_wait: tasks end even when a cancellation is lost, as redis-py can lose one."""

from __future__ import annotations

import asyncio

import pytest

from ingest.tasks import cancel_and_wait


async def _loses_first_cancellation(log: list[str]) -> None:
    # What a lost cancellation looks like from outside: the task carries on.
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.append("lost")
    await asyncio.sleep(3600)


async def test_a_task_that_loses_a_cancellation_still_ends() -> None:
    log: list[str] = []
    task = asyncio.create_task(_loses_first_cancellation(log))
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task, retry_every=0.01)
    assert task.cancelled()
    assert log == ["lost"]


async def test_errors_of_the_tasks_are_dropped() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert isinstance(task.exception(), RuntimeError)


async def test_the_caller_cancelled_meanwhile_still_sees_the_tasks_end() -> None:
    log: list[str] = []
    inner = asyncio.create_task(_loses_first_cancellation(log))
    await asyncio.sleep(0)
    outer = asyncio.create_task(cancel_and_wait(inner, retry_every=0.05))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert inner.done()
