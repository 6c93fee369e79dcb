"""What a valid piece of a community's structure looks like: a name (of a compound, building,
grid or team) and an address's unit and room (``market.community.structure``).

Pure functions, no database: each raises ``InvalidInput`` with its own reason and the field it
is about.
"""

from market.errors import InvalidInput

MAX_NAME = 50
MAX_ADDRESS = 20


def clean_name(name: str) -> str:
    """Whitespace collapsed; 1–50 printable characters."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise InvalidInput("invalid_structure_name", field="name")
    return name


def clean_address_part(text: str, field: str, *, required: bool) -> str:
    """A unit (may be empty: not every building has units) or a room (required)."""
    text = " ".join(text.split())
    if len(text) > MAX_ADDRESS or (required and not text) or not text.isprintable():
        raise InvalidInput("invalid_address", field=field)
    return text
