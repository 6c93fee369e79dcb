"""The token codec: round trips, and nothing forged, mutated, truncated or of another kind gets in."""

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qr.tokens import (
    FIELD_COUNTS,
    MAX_FIELD,
    InvalidToken,
    Kind,
    Signer,
    Token,
    derive_key,
)

ALPHABET = string.ascii_uppercase + "234567"
SIGNER = Signer.from_secrets(["the app's secret key, for tests"])
OTHER = Signer.from_secrets(["another installation's key"])

fields = st.integers(min_value=0, max_value=MAX_FIELD)
small_fields = st.integers(min_value=0, max_value=2**32)
kinds = st.sampled_from(list(Kind))


def token_for(kind: Kind, values: list[int]) -> str:
    return SIGNER.sign(kind, *values[: FIELD_COUNTS[kind]])


@given(kinds, st.lists(fields, min_size=2, max_size=2))
def test_round_trip(kind: Kind, values: list[int]) -> None:
    text = token_for(kind, values)
    assert set(text) <= set(ALPHABET)  # QR alphanumeric mode
    assert SIGNER.open(text) == Token(kind, tuple(values))
    assert SIGNER.verify(text, kind) == tuple(values)


@given(kinds, st.lists(small_fields, min_size=2, max_size=2), st.data())
def test_any_single_character_change_is_invalid(kind: Kind, values: list[int], data) -> None:
    text = token_for(kind, values)
    position = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + "a0189=- ").filter(lambda c: c != text[position]))
    mutated = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(InvalidToken):
        SIGNER.open(mutated)


@given(kinds, st.lists(small_fields, min_size=2, max_size=2), st.data())
def test_truncated_or_extended_tokens_are_invalid(kind: Kind, values: list[int], data) -> None:
    text = token_for(kind, values)
    cut = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(InvalidToken):
        SIGNER.open(text[:cut])
    with pytest.raises(InvalidToken):
        SIGNER.open(text + data.draw(st.text(ALPHABET, min_size=1, max_size=8)))
    with pytest.raises(InvalidToken):
        SIGNER.open(text[1:])


@given(st.lists(small_fields, min_size=2, max_size=2), kinds, kinds)
def test_a_token_of_one_kind_is_not_another(values: list[int], made: Kind, asked: Kind) -> None:
    text = token_for(made, values)
    if made == asked:
        assert SIGNER.verify(text, asked) == tuple(values)
    else:
        with pytest.raises(InvalidToken):
            SIGNER.verify(text, asked)


def test_ten_thousand_forgeries_are_all_refused() -> None:
    rng = random.Random(20261123)
    genuine = [SIGNER.sign(kind, rng.randrange(1, 10**6), rng.randrange(0, 10**8)) for kind in Kind]
    accepted = 0
    for attempt in range(10_000):
        style = attempt % 5
        base = rng.choice(genuine)
        if style == 0:  # random text of a plausible length
            text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 60)))
        elif style == 1:  # a few characters changed
            chars = list(base)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
            text = "".join(chars)
        elif style == 2:  # a genuine body with a random tag
            body = base[: len(base) - 26]
            text = body + "".join(rng.choice(ALPHABET) for _ in range(26))
        elif style == 3:  # signed with someone else's key
            text = OTHER.sign(rng.choice(list(Kind)), rng.randrange(10**6), rng.randrange(10**8))
        else:  # spliced from two genuine tokens
            other = rng.choice(genuine)
            cut = rng.randrange(1, min(len(base), len(other)))
            text = base[:cut] + other[cut:]
        if text in genuine:
            continue
        try:
            SIGNER.open(text)
        except InvalidToken:
            continue
        accepted += 1
    assert accepted == 0


def test_keys_rotate_new_signs_old_verifies() -> None:
    old, new = derive_key("old secret"), derive_key("new secret")
    before = Signer([old]).sign(Kind.CARD, 7, 1)
    rotated = Signer([new, old])
    assert rotated.verify(before, Kind.CARD) == (7, 1)
    after = rotated.sign(Kind.CARD, 7, 1)
    assert after != before
    assert Signer([new]).verify(after, Kind.CARD) == (7, 1)
    with pytest.raises(InvalidToken):
        Signer([old]).verify(after, Kind.CARD)
    # Once the old key is dropped, its tokens stop working.
    with pytest.raises(InvalidToken):
        Signer([new]).verify(before, Kind.CARD)


def test_keys_are_derived_per_purpose() -> None:
    assert derive_key("s") != derive_key("s", "another-purpose")
    assert len(derive_key("s")) == 32
    with pytest.raises(ValueError):
        derive_key("")
    with pytest.raises(ValueError):
        Signer([])
    with pytest.raises(ValueError):
        Signer([b"short"])


@pytest.mark.parametrize("bad", [-1, MAX_FIELD + 1, True, 1.5, "1"])
def test_fields_must_be_unsigned_63_bit_ints(bad: object) -> None:
    with pytest.raises(ValueError):
        SIGNER.sign(Kind.CARD, 1, bad)  # type: ignore[arg-type]


def test_field_count_is_checked() -> None:
    with pytest.raises(ValueError):
        SIGNER.sign(Kind.MEMBER_CODE, 1)
    with pytest.raises(ValueError):
        SIGNER.sign(Kind.MEMBER_CODE, 1, 2, 3)


@pytest.mark.parametrize("text", ["", " ", "A", "=" * 8, "é" * 40, "A" * 201, None, 12])
def test_garbage_is_invalid(text: object) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.open(text)  # type: ignore[arg-type]


def test_lowercase_is_not_the_canonical_spelling() -> None:
    text = SIGNER.sign(Kind.CARD, 5, 1)
    with pytest.raises(InvalidToken):
        SIGNER.open(text.lower())


def test_kind_values_are_fixed() -> None:
    # Written into printed cards: renumbering would void every card in circulation.
    assert {kind.name: kind.value for kind in Kind} == {
        "MEMBER_CODE": 1, "CARD": 2, "ACTIVITY_ROTATING": 3, "POSTER": 4, "DOORPLATE": 5,
    }


@settings(max_examples=50)
@given(st.integers(1, 2**21 - 1), st.integers(0, 2**28 - 1))
def test_sizes(person: int, step: int) -> None:
    # Steps of 30 s stay below 2²⁸ (four varint bytes) until the year 2225.
    assert len(SIGNER.sign(Kind.MEMBER_CODE, person, step)) <= 39
    assert len(SIGNER.sign(Kind.CARD, person, 1)) <= 34
