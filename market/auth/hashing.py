"""Argon2id hashing of passwords and PINs, off the event loop and bounded in concurrency.

Parameters are OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): 23–51 ms per hash on
the 2-core machine, depending on its day. Each hash holds 19 MiB while it runs, so a semaphore
caps how many run at once; fifty simultaneous sign-ins queue instead of exhausting memory.
"""

import asyncio
import os
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: OWASP's minimum for Argon2id: 2 passes over 19 MiB, one lane.
TIME_COST, MEMORY_COST_KIB = 2, 19 * 1024


class SecretHasher:
    def __init__(
        self, max_concurrent: int | None = None, *,
        time_cost: int = TIME_COST, memory_cost_kib: int = MEMORY_COST_KIB,
    ) -> None:
        # The costs are parameters for the test suite only, which signs thousands of people in
        # and checks these defaults apart (tests/market/test_session_security.py).
        self._argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1, hash_len=32,
            salt_len=16, type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrent or max(2, os.cpu_count() or 2))
        self._dummy: str | None = None

    async def hash(self, secret: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, secret)

    async def verify(self, hashed: str, secret: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, hashed, secret)

    async def verify_nobody(self, secret: str) -> None:
        """Spend the time of one verification when the login matched nobody.

        Without it, "no such login" would answer ~20 ms sooner than "wrong
        secret", telling an attacker which phone numbers are registered.
        """
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, secret)

    def needs_rehash(self, hashed: str) -> bool:
        """True when ``hashed`` was made with weaker parameters than today's."""
        try:
            return self._argon2.check_needs_rehash(hashed)
        except InvalidHashError:
            return False

    def _verify(self, hashed: str, secret: str) -> bool:
        try:
            return self._argon2.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
