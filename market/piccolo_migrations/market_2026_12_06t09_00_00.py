"""Community slugs (issue 16): a readable, stable address per community for public links.

- ``community.slug``: the slug links are made with now (unique; null only until given one).
- ``community_slug``: every slug a community has had, its current one included, unique across
  communities, so a printed link or QR code made with an old slug keeps naming the same
  community and no other community can take it.

Existing communities get a slug derived from their name (``market.community.slugs.derive``:
幸福社区 → xingfushequ, "-2" … when taken, ``c<id>`` when nothing readable comes out), oldest
first, in the migration's own transaction.
"""

from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T09:00:00"
VERSION = "1.38.0"
DESCRIPTION = "community slugs"

_TABLES = """
ALTER TABLE community ADD COLUMN slug VARCHAR(40) NULL;
CREATE UNIQUE INDEX community_slug_current ON community (slug);
CREATE TABLE community_slug (
    id {primary_key},
    community INTEGER NOT NULL REFERENCES community (id) ON DELETE RESTRICT,
    slug VARCHAR(40) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX community_slug_community ON community_slug (community)
"""

_PRIMARY_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "SERIAL PRIMARY KEY"}


def statements(engine_type: str) -> list[str]:
    """The DDL for ``engine_type`` ("sqlite" or "postgres"), in order."""
    tables = _TABLES.format(primary_key=_PRIMARY_KEY[engine_type])
    return [s.strip() for s in tables.split(";\n") if s.strip()]


def backfill(communities: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(id, slug) for each (id, name), oldest first, every slug unique."""
    from market.community.slugs import MAX_LENGTH, SLUG, derive

    taken: set[str] = set()
    chosen = []
    for community_id, name in sorted(communities):
        base = derive(name)
        candidates = [base, *(
            f"{base[: MAX_LENGTH - len(str(n)) - 1].rstrip('-')}-{n}" for n in range(2, 100)
        )] if base else []
        slug = next((c for c in candidates if c not in taken), f"c{community_id}")
        if slug in taken:  # a name like "c12" taken by community 12's own fallback: impossible
            slug = f"c{community_id}-{len(taken)}"
        assert SLUG.match(slug), slug  # it is written into the SQL below
        taken.add(slug)
        chosen.append((community_id, slug))
    return chosen


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def add_slugs() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement in statements(engine.engine_type):
            await engine.run_ddl(statement)
        rows = await engine.run_ddl("SELECT id, name FROM community")
        at = datetime.now(UTC).isoformat()
        # Slugs are [a-z0-9-] and ids integers, so writing them into the SQL is safe.
        for community_id, slug in backfill([(int(r["id"]), str(r["name"])) for r in rows or []]):
            await engine.run_ddl(
                f"INSERT INTO community_slug (community, slug, created_at)"
                f" VALUES ({community_id:d}, '{slug}', '{at}')"
            )
            await engine.run_ddl(f"UPDATE community SET slug = '{slug}' WHERE id = {community_id:d}")

    manager.add_raw(add_slugs)
    return manager
