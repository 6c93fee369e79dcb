"""Community slugs: the readable, stable address of a community in public links and QR codes.

A community's slug (``xingfushequ`` for 幸福社区) is derived from its name when it is founded,
with pypinyin, and may be changed by its admin. Every slug a community ever had stays in
``community_slug`` and keeps pointing at it, so a printed notice or a QR code made with an old
slug never breaks, and no other community can ever take it. ``community.slug`` holds the one
links are made with now.

Public pages take ``?community=`` as a slug, a numeric id or the community's exact name
(``resolve``); the API answers ``GET /api/communities/{slug}``.
"""

import re
import unicodedata

from market import clock
from market.community import service as communities
from market.community.schemas import CommunitySlugView
from market.db import fetch, is_unique_violation, write_transaction
from market.errors import Conflict, InvalidInput, NotFound
from market.tables import AuditEntry

MIN_LENGTH, MAX_LENGTH = 2, 40
#: Lower-case letters, digits and single hyphens inside; at least one letter, so a slug can
#: never be read as a community's numeric id.
SLUG = re.compile(r"^(?=[a-z0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*$")
#: What ``?community=`` may hold at most: a slug, an id or a name (names are up to 100).
MAX_TYPED = 100
#: How many "-2", "-3", … a derived slug tries before it falls back to ``c<id>``.
SUFFIXES = 50


def derive(name: str) -> str:
    """A readable slug for ``name``, or "" when nothing readable comes out.

    Chinese characters become their pinyin without tones, run together (幸福社区 → xingfushequ);
    Latin words and digits stay, lower-cased; anything else separates words with a hyphen.
    """
    # Imported here: pypinyin's dictionaries take ~0.15 s to load, which every ``market``
    # command and server worker would pay at start-up, while only founding a community needs them.
    from pypinyin import lazy_pinyin

    text = unicodedata.normalize("NFKC", name).lower()
    parts: list[str] = []
    for piece in lazy_pinyin(text, errors=lambda chars: [f"-{chars}-"]):
        parts.append(piece)
    raw = "".join(parts)
    # pypinyin hands non-Chinese runs back as they are: keep their letters and digits only.
    raw = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if len(slug) > MAX_LENGTH:
        slug = slug[:MAX_LENGTH].rstrip("-")
        # Cut at the last hyphen when there is one, so no word is left half.
        if "-" in slug[MIN_LENGTH:]:
            slug = slug.rsplit("-", 1)[0]
    return slug if len(slug) >= MIN_LENGTH and SLUG.match(slug) else ""


def check(typed: str) -> str:
    """A slug typed by an admin, normalised (spaces trimmed, lower case) and validated: 400
    ``invalid_slug`` naming the rule, never a change."""
    slug = unicodedata.normalize("NFKC", typed).strip().lower()
    if not MIN_LENGTH <= len(slug) <= MAX_LENGTH:
        raise InvalidInput("invalid_slug_length", field="slug", min=MIN_LENGTH, max=MAX_LENGTH)
    if not SLUG.match(slug):
        raise InvalidInput("invalid_slug", field="slug")
    return slug


async def _owner(slug: str) -> int | None:
    rows = await fetch("SELECT community FROM community_slug WHERE slug = {}", slug)
    return rows[0]["community"] if rows else None


async def _take(community_id: int, slug: str, *, actor: int | None, old: str | None) -> None:
    """Make ``slug`` the community's current one (its alias row kept or added), audited when an
    admin did it. A slug held by another community, now or before, is a unique violation."""
    now = clock.now()
    async with write_transaction():
        if await _owner(slug) is None:
            await fetch(
                "INSERT INTO community_slug (community, slug, created_at) VALUES ({}, {}, {})",
                community_id, slug, now,
            )
        await fetch("UPDATE community SET slug = {} WHERE id = {}", slug, community_id)
        if actor is not None:
            # The subject names records, never people: the community, and both addresses.
            await AuditEntry.insert(AuditEntry(
                community=community_id, actor=actor, action="community_slug_changed",
                subject=f"community:{community_id} {old or ''}->{slug}"[:100], at=now,
            ))


async def assign_default(community_id: int, name: str) -> str:
    """Give a community without a slug one derived from its name ("-2", … if taken; ``c<id>``
    when nothing readable comes out); its slug if it has one."""
    rows = await fetch("SELECT slug FROM community WHERE id = {}", community_id)
    if not rows:
        raise NotFound(field="community")
    if rows[0]["slug"]:
        return rows[0]["slug"]
    base = derive(name)
    candidates = [f"c{community_id}"]
    if base:
        candidates = [base] + [
            f"{base[: MAX_LENGTH - len(str(n)) - 1].rstrip('-')}-{n}" for n in range(2, SUFFIXES + 2)
        ] + candidates
    for candidate in candidates:
        owner = await _owner(candidate)
        if owner not in (None, community_id):
            continue
        try:
            await _take(community_id, candidate, actor=None, old=None)
        except Exception as error:
            if not is_unique_violation(error):
                raise
            # Founded twice at the same moment (``get_or_create``): the other call gave it one.
            again = await fetch("SELECT slug FROM community WHERE id = {}", community_id)
            if again and again[0]["slug"]:
                return again[0]["slug"]
            continue  # another community took it at the same moment: try the next one
        return candidate
    raise Conflict("slug_taken", field="slug")  # pragma: no cover - c<id> is ours alone


async def current(community_id: int) -> CommunitySlugView:
    """The community with its slug (given one now if it has none: a community founded by hand)."""
    rows = await fetch("SELECT id, name, slug FROM community WHERE id = {}", community_id)
    if not rows:
        raise NotFound(field="community")
    row = rows[0]
    slug = row["slug"] or await assign_default(row["id"], row["name"])
    return CommunitySlugView(id=row["id"], name=row["name"], slug=slug)


async def change(community_id: int, actor: int, typed: str) -> CommunitySlugView:
    """An admin gives their community a new slug; the old one keeps working. 400 when it breaks
    the rules, 409 ``slug_taken`` when another community has it or had it."""
    slug = check(typed)
    now = await current(community_id)
    if slug == now.slug:
        return now
    owner = await _owner(slug)
    if owner is not None and owner != community_id:
        raise Conflict("slug_taken", field="slug")
    try:
        await _take(community_id, slug, actor=actor, old=now.slug)
    except Exception as error:
        if is_unique_violation(error):
            raise Conflict("slug_taken", field="slug") from None
        raise
    return CommunitySlugView(id=now.id, name=now.name, slug=slug)


async def history(community_id: int) -> list[str]:
    """Every slug the community had before its current one, newest first: they still work."""
    rows = await fetch(
        "SELECT s.slug FROM community_slug s JOIN community c ON c.id = s.community"
        " WHERE s.community = {} AND (c.slug IS NULL OR s.slug <> c.slug)"
        " ORDER BY s.created_at DESC, s.id DESC",
        community_id,
    )
    return [row["slug"] for row in rows]


async def resolve(typed: str | None) -> CommunitySlugView:
    """The community ``?community=`` names — the one shared reading of every public page:
    empty → the oldest community (the only one of most installations); digits → its id;
    otherwise a slug (current or old, any case) or, failing that, the exact name. 404 when
    none is found, 400 for what cannot be any of them."""
    text = unicodedata.normalize("NFKC", typed or "").strip()
    if not text:
        first = await communities.first()
        if first is None:
            raise NotFound(field="community")
        return await current(first.id)
    if len(text) > MAX_TYPED or not text.isprintable():
        raise InvalidInput(field="community")
    if text.isascii() and text.isdigit():
        if len(text) > 9:
            raise NotFound(field="community")
        return await current(int(text))
    if (owner := await _owner(text.lower())) is not None:
        return await current(owner)
    named = await communities.named(text)
    if named is None:
        raise NotFound(field="community")
    return await current(named.id)
