"""WriteLock: one holder at a time; the waiters on a job's way to starting go first, the
organizations taking turns among them, the others in their order, and one of the others
after every BOOKKEEPING_EVERY urgent turns in a row; a waiter cancelled in line, or just
as its turn came, loses no turn of anyone else's."""

from __future__ import annotations

import asyncio

import pytest

from jobdeck.store.engine import BOOKKEEPING_EVERY, WriteLock


async def _queue(
    lock: WriteLock, order: list[str], name: str, *, urgent: bool, organization: str = ""
) -> None:
    async with lock.held(urgent=urgent, organization=organization or None):
        order.append(name)
        await asyncio.sleep(0)


# A waiter: its name, whether it is urgent, and its organization ("" for none).
Waiter = tuple[str, bool, str]


def urgent(name: str, organization: str = "") -> Waiter:
    return (name, True, organization)


def normal(name: str) -> Waiter:
    return (name, False, "")


async def _served(lock: WriteLock, waiters: list[Waiter]) -> list[str]:
    """The order in which `waiters`, all put in line while the lock is held, get it."""
    order: list[str] = []
    async with lock.held():
        tasks = [
            asyncio.create_task(_queue(lock, order, name, urgent=is_urgent, organization=org))
            for name, is_urgent, org in waiters
        ]
        await asyncio.sleep(0.01)  # all in line
        assert order == []
    await asyncio.gather(*tasks)
    return order


async def test_urgent_waiters_go_first_and_each_line_keeps_its_order() -> None:
    waiters = [normal("n1"), urgent("u1"), normal("n2"), urgent("u2")]
    assert await _served(WriteLock(), waiters) == ["u1", "u2", "n1", "n2"]


async def test_organizations_take_turns_among_the_urgent() -> None:
    # Organization A's flood of first steps is in line before B's one job.
    waiters = [*(urgent(f"a{i}", "A") for i in range(5)), normal("n"), urgent("b", "B")]
    # After four urgent turns while `n` waited, `n` gets one.
    assert await _served(WriteLock(), waiters) == ["a0", "b", "a1", "a2", "n", "a3", "a4"]


async def test_a_flood_of_urgent_writes_holds_the_rest_back_only_so_long() -> None:
    waiters = [*(urgent(f"u{i}", "A") for i in range(10)), *(normal(f"n{i}") for i in range(3))]
    assert BOOKKEEPING_EVERY == 4
    assert await _served(WriteLock(), waiters) == [
        *("u0", "u1", "u2", "u3", "n0"),
        *("u4", "u5", "u6", "u7", "n1"),
        *("u8", "u9", "n2"),
    ]


async def test_urgent_turns_with_no_one_else_waiting_do_not_count() -> None:
    """A normal waiter that arrives after a run of urgent turns waits its four, not fewer."""
    lock = WriteLock()
    early = await _served(lock, [urgent(f"e{i}", "A") for i in range(6)])
    assert len(early) == 6
    waiters = [normal("n"), *(urgent(f"u{i}", "A") for i in range(6))]
    assert await _served(lock, waiters) == ["u0", "u1", "u2", "u3", "n", "u4", "u5"]


async def test_one_holder_at_a_time() -> None:
    lock = WriteLock()
    inside = 0
    most = 0

    async def hold(i: int) -> None:
        nonlocal inside, most
        async with lock.held(urgent=i % 3 == 0):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(hold(i) for i in range(50)))
    assert most == 1
    async with lock.held():  # free again
        pass


async def test_a_waiter_cancelled_in_line_leaves_it() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.held():
        doomed = asyncio.create_task(_queue(lock, order, "doomed", urgent=True))
        after = asyncio.create_task(_queue(lock, order, "after", urgent=False))
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.sleep(0.01)
    await after
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert order == ["after"]


async def test_a_waiter_cancelled_as_its_turn_comes_hands_the_lock_on() -> None:
    lock = WriteLock()
    order: list[str] = []
    holder = lock.held()
    await holder.__aenter__()
    doomed = asyncio.create_task(_queue(lock, order, "doomed", urgent=False))
    after = asyncio.create_task(_queue(lock, order, "after", urgent=False))
    await asyncio.sleep(0.01)
    await holder.__aexit__(None, None, None)  # the turn is handed to `doomed`...
    doomed.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(after, timeout=1)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert order == ["after"]
