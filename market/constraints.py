"""What a request's fields take, said in the OpenAPI document with the limits the services check.

The services check input and refuse it with a reason of the domain (``invalid_structure_name``,
``invalid_reason`` …); these annotations only document the same limits, from the same constants,
so a generated client sends what the server takes (issue 14). They are ``KwargDefinition``s,
which Litestar writes into the schema and msgspec does not enforce: a value outside them still
reaches the service and gets its reason, never a generic parsing error.

    name: Annotated[str, text(MAX_NAME)]
"""

import re

from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import KwargDefinition

#: Text with something in it besides whitespace (the services collapse whitespace first).
_NOT_BLANK = r"\S"


def text(max_length: int, *, required: bool = True) -> KwargDefinition:
    """1 … ``max_length`` characters, not all whitespace; or, not required, at most that many."""
    if not required:
        return KwargDefinition(max_length=max_length)
    return KwargDefinition(min_length=1, max_length=max_length, pattern=_NOT_BLANK)


def one_of(values: tuple[str, ...] | frozenset[str], *, nullable: bool = False) -> KwargDefinition:
    """One of ``values`` (or null)."""
    return KwargDefinition(schema_extra={"enum": [*sorted(values), *([None] if nullable else [])]})


def matching(pattern: re.Pattern[str]) -> KwargDefinition:
    """Text that the service's own ``pattern`` matches whole (``fullmatch``)."""
    return KwargDefinition(pattern=f"^(?:{pattern.pattern})$")


def items(*, min_items: int = 0, max_items: int | None = None) -> KwargDefinition:
    """A list of at least ``min_items`` (and at most ``max_items``)."""
    return KwargDefinition(min_items=min_items or None, max_items=max_items)


def password_text(min_length: int, max_length: int) -> KwargDefinition:
    """A staff password: ``min_length`` … ``max_length`` characters."""
    return KwargDefinition(min_length=min_length, max_length=max_length)


def roles_of(roles: frozenset[str]) -> KwargDefinition:
    """A set of roles: at least one, each one of ``roles``."""
    return KwargDefinition(min_items=1, schema_extra={"unique_items": True,
        "items": Schema(type=OpenAPIType.STRING, enum=sorted(roles)),
    })


def weekdays() -> KwargDefinition:
    """ISO weekdays, 1 = Monday … 7 = Sunday; at least one, each once."""
    return KwargDefinition(min_items=1, max_items=7, schema_extra={"unique_items": True,
        "items": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=7),
    })


#: A query parameter's Beijing calendar day, YYYY-MM-DD (``QueryParameter(schema_extra=DAY)``).
DAY = {"format": OpenAPIFormat.DATE}
