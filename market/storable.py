"""What a request's values must be for both databases to hold them: one rule for SQLite and PostgreSQL.

Checked for every route before its handler reads anything (``check_request``, the app's
``before_request``):

- an id in the path is 1 … 2³¹ − 1, PostgreSQL's ``integer`` (every table's ``serial`` key): any
  other number names nothing that can exist, so it is a 404 like any other missing row;
- no text holds NUL (U+0000), which PostgreSQL's ``text`` cannot store and SQLite would keep, or a
  lone surrogate, which neither driver can encode: in the path, the query, a JSON body (as the
  escape ``\\u0000`` or ``\\ud800``) or a form (``%00``) — 400 ``invalid_character``. Multipart
  bodies are uploads, read by their handlers within their own limits: a roster refuses any
  unprintable cell (NUL included) as a bad row; a photo is a picture.

What gets past these (a number in a body beyond a column's range, say) is still no 5xx:
``market.errors`` answers the drivers' own refusals of such values with 400 ``out_of_range`` or
``invalid_character`` (``refused_value``), after the transaction rolled back.
"""

import json
import re

from litestar import Request

from market.errors import InvalidInput, NotFound

#: PostgreSQL's ``integer``: the largest id any table can hand out.
MAX_ID = 2**31 - 1

#: A character no database here can store: NUL, or half of a surrogate pair.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: A JSON escape that may stand for one (a pair of surrogates is a character like any other): only
#: a body holding one is decoded to look.
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|d[89a-f])", re.IGNORECASE)
_FORM_NUL = re.compile(rb"%00|\x00")


def storable_text(value: str) -> bool:
    """Whether both databases can store ``value`` as it is."""
    return _UNSTORABLE.search(value) is None


def _refuse(value: str, field: str) -> None:
    if not storable_text(value):
        raise InvalidInput("invalid_character", field=field)


async def check_request(request: Request) -> None:
    """Refuse, before any handler runs, what no database here could hold (see the module)."""
    for name, value in request.path_params.items():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound()
        if isinstance(value, str):
            _refuse(value, name)
    for name, value in request.query_params.multi_items():
        _refuse(name, name)
        _refuse(value, name)
    if request.method in {"GET", "HEAD", "OPTIONS", "DELETE"} and not request.headers.get("content-length"):
        return
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        body = await request.body()
        if _JSON_SUSPECT.search(body) and not _storable_json(body):
            raise InvalidInput("invalid_character", field="body")
    elif media == "application/x-www-form-urlencoded" and _FORM_NUL.search(await request.body()):
        raise InvalidInput("invalid_character", field="body")


def _storable_json(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return True  # not JSON: the handler's parsing says so in its own words
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not storable_text(value):
                return False
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
    return True
