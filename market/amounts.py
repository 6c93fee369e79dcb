"""Amounts as clients send them: the one type of every API field that carries points or hours.

A field typed ``Decimal`` took whatever Python's ``Decimal`` reads — ``"９９"``, ``"٣"``, ``"1e3"``,
``"1_0"`` — while ``ledger.to_hundredths`` refuses all of these in text (issue 14). ``Amount``
fields are decoded by ``decode_amount`` (the app's type decoder) by the ledger's rule instead:
a JSON string of ASCII digits with an optional sign and at most two decimals, or a JSON number.
The OpenAPI document says the same (``amount_schema``), so a generated client sends what the
server takes.
"""

import re
from decimal import Decimal
from typing import Any

from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from ledger import MAX_HUNDREDTHS

#: What an amount in text looks like; its digits bounded by the ledger's largest amount.
_WHOLE_DIGITS = len(str(MAX_HUNDREDTHS // 100)) - 1
AMOUNT_PATTERN = rf"^[+-]?(\d{{1,{_WHOLE_DIGITS}}}(\.\d{{1,2}})?|\.\d{{1,2}})$"
#: What the server reads as a number at all (the ledger's characters: no exponent, no "_").
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)", re.ASCII)


def amount_schema() -> Schema:
    """A new schema per field: Litestar writes a field's default into the schema it is given."""
    return Schema(
        one_of=[
            Schema(type=OpenAPIType.STRING, pattern=AMOUNT_PATTERN, examples=["12.50"]),
            Schema(type=OpenAPIType.NUMBER, multiple_of=0.01, examples=[12.5]),
        ],
        description="Points or hours: a decimal string or a JSON number, at most two decimals.",
    )


class Amount(Decimal):
    """A decimal amount read by the ledger's rule (see the module); behaves as a ``Decimal``."""


def is_amount(kind: Any) -> bool:
    return kind is Amount


def decode_amount(kind: type, value: Any) -> Amount:
    """A JSON string or number as an ``Amount``; a ``ValueError`` (400 ``invalid_input`` naming the
    field) for anything that is not a number in ASCII digits. How many decimals and how large
    are the domain's to judge (``invalid_amount``, ``invalid_price`` …), as for any number."""
    if isinstance(value, bool):
        raise ValueError("an amount is a number, not true or false")
    if isinstance(value, int):
        return Amount(value)
    if isinstance(value, float):
        # msgspec has parsed the JSON number as a float: its shortest repr is the text the
        # client wrote whenever that text had at most 15 significant digits (any real amount).
        return Amount(repr(value))
    text = value.strip() if isinstance(value, str) else ""
    if not _NUMBER.fullmatch(text):
        raise ValueError("an amount is written with the digits 0-9, a sign and a decimal point")
    return Amount(text)


class AmountSchemaPlugin(OpenAPISchemaPlugin):
    """Documents ``Amount`` fields with ``amount_schema``."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Amount

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return amount_schema()
