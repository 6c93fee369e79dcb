"""Rotating codes (TOTP-style): a token carrying (subject id, time step) that goes stale.

The step is ``floor(unix seconds / step_seconds)``. A code is accepted during
its own step and ``previous_steps`` more (one by default: 30–60 s in all), so
a screenshot forwarded to someone at home is useless a minute later. A step up
to ``future_steps`` ahead is tolerated for clock skew between servers; further
ahead is invalid (no honest server made it).

Works for any kind whose fields are (subject id, step): member codes and
activity check-in codes.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from qr.tokens import ExpiredToken, InvalidToken, Kind, Signer

STEP_SECONDS = 30
ROTATING_KINDS = frozenset({Kind.MEMBER_CODE, Kind.ACTIVITY_ROTATING})


@dataclass(frozen=True, slots=True)
class RotatingCode:
    text: str
    step: int
    expires_at: datetime
    """When it stops being accepted (the end of the previous-step grace)."""
    refresh_at: datetime
    """When the next step begins: show a fresh code from then on."""

    def refresh_in(self, now: datetime) -> float:
        return max(0.0, (self.refresh_at - now).total_seconds())


def _timestamp(now: datetime | None) -> float:
    if now is None:
        return datetime.now(UTC).timestamp()
    if now.tzinfo is None:
        raise ValueError("use an aware datetime (UTC)")
    return now.timestamp()


@dataclass(frozen=True, slots=True)
class Rotation:
    step_seconds: int = STEP_SECONDS
    previous_steps: int = 1
    future_steps: int = 1

    def step_at(self, now: datetime | None = None) -> int:
        return math.floor(_timestamp(now) / self.step_seconds)

    def _at(self, step: int) -> datetime:
        return datetime.fromtimestamp(0, UTC) + timedelta(seconds=step * self.step_seconds)

    def issue(
        self, signer: Signer, kind: Kind, subject_id: int, now: datetime | None = None
    ) -> RotatingCode:
        if kind not in ROTATING_KINDS:
            raise ValueError(f"{Kind(kind).name} is not a rotating kind")
        step = self.step_at(now)
        return RotatingCode(
            text=signer.sign(kind, subject_id, step),
            step=step,
            expires_at=self._at(step + 1 + self.previous_steps),
            refresh_at=self._at(step + 1),
        )

    def check(
        self, signer: Signer, text: str, kind: Kind, now: datetime | None = None
    ) -> int:
        """The subject id of a genuine, current code; ExpiredToken if its step is too old."""
        if kind not in ROTATING_KINDS:
            raise ValueError(f"{Kind(kind).name} is not a rotating kind")
        subject_id, step = signer.verify(text, kind)
        self.check_step(step, now)
        return subject_id

    def check_step(self, step: int, now: datetime | None = None) -> None:
        """ExpiredToken if ``step`` is older than the previous one; InvalidToken if far ahead.

        For callers that opened the token themselves (``Signer.open``) to learn its kind."""
        current = self.step_at(now)
        if step < current - self.previous_steps:
            raise ExpiredToken()
        if step > current + self.future_steps:
            raise InvalidToken("from the future")
