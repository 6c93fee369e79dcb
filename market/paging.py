"""Pages of a list: the cursor a page hands out (``next_cursor``) and reads back.

A cursor is the id or sequence number to continue after (or before), as decimal digits; one
definition for every paged list, so the document and the check cannot drift apart.
"""

from typing import Annotated

from litestar.params import QueryParameter

from market.errors import InvalidInput

#: At most 18 digits: every such number fits a BIGINT.
_MAX_DIGITS = 18

Cursor = Annotated[str | None, QueryParameter(
    max_length=20, description="the `next_cursor` of the page before; the first page when absent",
    schema_extra={"pattern": f"^[0-9]{{0,{_MAX_DIGITS}}}$"},
)]


def parse_cursor(cursor: str | None) -> int | None:
    """The number a cursor holds; 400 ``invalid_cursor`` for anything else."""
    if not cursor:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > _MAX_DIGITS:
        raise InvalidInput("invalid_cursor", field="cursor")
    return int(cursor)
