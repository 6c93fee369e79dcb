"""Rotating codes: the current and the previous 30-second step are accepted, older ones expire."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qr.rotating import Rotation
from qr.tokens import ExpiredToken, InvalidToken, Kind, Signer

SIGNER = Signer.from_secrets(["rotating tests"])
ROTATION = Rotation()
T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)  # a step boundary


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_code_lives_through_its_step_and_the_next() -> None:
    code = ROTATION.issue(SIGNER, Kind.MEMBER_CODE, 42, at(5))
    assert code.refresh_at == at(30)
    assert code.expires_at == at(60)
    assert code.refresh_in(at(5)) == 25
    for seconds in (5, 29.9, 30, 59.9):
        assert ROTATION.check(SIGNER, code.text, Kind.MEMBER_CODE, at(seconds)) == 42
    with pytest.raises(ExpiredToken) as refused:
        ROTATION.check(SIGNER, code.text, Kind.MEMBER_CODE, at(60))
    assert refused.value.reason == "expired"


@given(st.integers(2, 10**6), st.floats(0, 29.999))
def test_steps_older_than_the_previous_are_expired(steps_later: int, offset: float) -> None:
    code = ROTATION.issue(SIGNER, Kind.ACTIVITY_ROTATING, 9, at(offset))
    with pytest.raises(ExpiredToken):
        ROTATION.check(SIGNER, code.text, Kind.ACTIVITY_ROTATING, at(offset + 30 * steps_later))


def test_clock_skew_of_one_step_is_tolerated_more_is_invalid() -> None:
    ahead = ROTATION.issue(SIGNER, Kind.MEMBER_CODE, 1, at(31))
    assert ROTATION.check(SIGNER, ahead.text, Kind.MEMBER_CODE, at(29)) == 1
    far = ROTATION.issue(SIGNER, Kind.MEMBER_CODE, 1, at(61))
    with pytest.raises(InvalidToken):
        ROTATION.check(SIGNER, far.text, Kind.MEMBER_CODE, at(29))


def test_a_member_code_is_not_an_activity_code() -> None:
    code = ROTATION.issue(SIGNER, Kind.MEMBER_CODE, 3, at(0))
    with pytest.raises(InvalidToken):
        ROTATION.check(SIGNER, code.text, Kind.ACTIVITY_ROTATING, at(0))


def test_static_kinds_do_not_rotate() -> None:
    with pytest.raises(ValueError):
        ROTATION.issue(SIGNER, Kind.CARD, 3, at(0))
    with pytest.raises(ValueError):
        ROTATION.check(SIGNER, SIGNER.sign(Kind.CARD, 3, 1), Kind.CARD, at(0))
    with pytest.raises(ValueError):
        ROTATION.issue(SIGNER, Kind.MEMBER_CODE, 3, datetime(2026, 1, 1))  # naive time
