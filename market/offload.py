"""CPU work off the event loop, a bounded number at a time per event loop.

Decoding a photo or reading a roster holds the memory of the whole file while it runs; a bound
on how many run at once is what keeps a worker's memory within what README states. One
``OffLoop`` per kind of work; its semaphore is per event loop (tests run many loops).
"""

import asyncio
import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class OffLoop:
    def __init__(self, concurrent: int) -> None:
        self.concurrent = concurrent
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)`` in a thread once one of the ``concurrent`` slots is free."""
        slots = self._slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(self.concurrent))
        async with slots:
            return await asyncio.to_thread(work, *args, **kwargs)
