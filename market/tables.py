"""The market's own tables: communities, people and their sign-in sessions.

Points are not here: they live in the ledger's tables, keyed by community id
(the ledger id) and person id (a wallet's owner). Composite constraints such as
one phone per community are created by the migration with raw SQL, because
Piccolo's composite ``Unique`` emits ALTER TABLE ADD CONSTRAINT, which SQLite
refuses.
"""

from piccolo.columns import ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Community(Table, tablename="community"):
    name = Varchar(length=100, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Person(Table, tablename="person"):
    # RESTRICT: the ledger and attendance point at people; they are never
    # deleted from under them (Piccolo's default would cascade).
    community = ForeignKey(Community, on_delete=OnDelete.restrict, null=False)
    name = Varchar(length=50)
    phone = Varchar(length=11)
    password_hash = Text(null=True, default=None)
    pin_hash = Text(null=True, default=None)
    #: Sorted, comma-joined role names ("admin,resident"); see ``market.auth.roles``.
    roles = Text()
    card_no = Varchar(length=10, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Session(Table, tablename="person_session"):
    """A sign-in. Only the SHA-256 of its token is stored, so a copy of the
    database does not hand out working tokens."""

    token_hash = Varchar(length=64, unique=True)
    person = ForeignKey(Person, on_delete=OnDelete.cascade, null=False)
    csrf_token = Varchar(length=64)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


TABLES: tuple[type[Table], ...] = (Community, Person, Session)
