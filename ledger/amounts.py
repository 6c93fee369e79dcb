"""Points amounts: exact Decimals at the edge, integer hundredths inside.

One point is 100 hundredths. Nothing here ever touches a float: a float amount
is refused, because by the time it reaches us its exact value is already lost.
"""

from decimal import Decimal, InvalidOperation

from ledger.errors import InvalidAmount

HUNDRED = Decimal(100)
#: The largest single amount, in hundredths (10^12 points): far above any real
#: movement, far below where a BIGINT balance could overflow.
MAX_HUNDREDTHS = 10**14


def to_hundredths(value: Decimal | int | str) -> int:
    """Parse an amount of points into integer hundredths, exactly.

    Accepts Decimal, int and decimal strings ("12", "12.5", "12.50"). Refuses
    floats, booleans, NaN, infinities, more than two decimal places and values
    beyond ``MAX_HUNDREDTHS`` with :class:`InvalidAmount`. The sign is kept;
    callers that need a positive amount check it themselves.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidAmount(f"amount must be a decimal number, not {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        # Decimal() accepts forms people do not mean as amounts ("1e3", "_1", "Infinity").
        if not text or any(c not in "+-.0123456789" for c in text):
            raise InvalidAmount(f"not a decimal number: {value!r}")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidAmount(f"not a decimal number: {value!r}") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidAmount("amount must be finite")
        scaled = value * HUNDRED
        if scaled != scaled.to_integral_value():
            raise InvalidAmount("amount has more than two decimal places")
        hundredths = int(scaled)
    else:
        hundredths = value * 100
    if abs(hundredths) > MAX_HUNDREDTHS:
        raise InvalidAmount("amount is too large")
    return hundredths


def to_decimal(hundredths: int) -> Decimal:
    """Integer hundredths back to a Decimal with exactly two places."""
    return Decimal(hundredths).scaleb(-2)  # exact: only the exponent changes


def format_points(hundredths: int) -> str:
    """The contract's wire form: a string with exactly two decimals, "12.50"."""
    sign = "-" if hundredths < 0 else ""
    whole, cents = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{cents:02d}"
