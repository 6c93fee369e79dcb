"""Running a generator of queries: each engine answers the queries, the generator decides.

The ledger's work is written as generators that yield what they need from the database
(``ledger.planner.procedure``, ``ledger.schema.upgrade_to_chains``), so one piece of logic
runs on every engine; these two loops feed each answer back until the generator returns.
"""

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def drive_now(steps: Generator[Any, Any, T], answer: Callable[[Any], Any]) -> T:
    """Run ``steps``, answering each query with ``answer`` (synchronous: SQLite, in its thread)."""
    reply = None
    while True:
        try:
            query = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = answer(query)


async def drive(steps: Generator[Any, Any, T], answer: Callable[[Any], Awaitable[Any]]) -> T:
    """Run ``steps``, awaiting ``answer`` for each query (asyncpg, Piccolo)."""
    reply = None
    while True:
        try:
            query = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = await answer(query)
