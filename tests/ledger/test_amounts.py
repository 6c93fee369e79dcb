"""Amounts are exact: Decimal in, integer hundredths inside, two-decimal strings out."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import InvalidAmount, format_points, to_decimal, to_hundredths


@pytest.mark.parametrize(
    ("value", "hundredths"),
    [("12.50", 1250), ("12.5", 1250), ("0.01", 1), (Decimal("3"), 300), (7, 700), ("-1.25", -125),
     (" 2.00 ", 200), (Decimal("1.230"), 123)],
)
def test_parses_exactly(value, hundredths):
    assert to_hundredths(value) == hundredths


@pytest.mark.parametrize(
    "value",
    ["1.005", "0.001", "NaN", "nan", "Infinity", "-inf", "abc", "", " ", "1e3", "1_000", "0x10",
     Decimal("NaN"), Decimal("Infinity"), Decimal("0.125"), 0.1, 1.0, True, None, [], "10" * 20,
     10**13],
)
def test_refuses_what_is_not_an_exact_amount(value):
    with pytest.raises(InvalidAmount):
        to_hundredths(value)


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_round_trip(hundredths):
    assert to_hundredths(format_points(hundredths)) == hundredths
    assert to_hundredths(to_decimal(hundredths)) == hundredths
    text = format_points(hundredths)
    assert len(text.split(".")[1]) == 2
    assert Decimal(text) == to_decimal(hundredths)
