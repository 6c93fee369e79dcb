"""The first run: an installation without an admin, and the one-time way to create the first.

``market serve`` on a fresh install finds nobody who can sign in to the office pages. It
prints a set-up link carrying a token only the console's reader sees; the sign-in page says
where to find it (or to run ``market admin create``). The token is an HMAC of the
installation's secret key, so every worker and host accepts the same one without storing
it, and it opens the set-up page only while no admin exists: once the first admin is made,
the link is dead, whoever saw it.
"""

import asyncio
import base64
import hashlib
import hmac

from ledger import Ledger
from market.auth import credentials
from market.auth.hashing import SecretHasher
from market.community import service as communities
from market.errors import Conflict, InvalidInput, MarketError
from market.people import rules
from market.people.schemas import PersonView
from market.people.service import NewPerson, create_person
from market.tables import AuditEntry, Person

SETUP_PATH = "/setup"


class SetupTokenInvalid(MarketError):
    status, reason = 403, "setup_token_invalid"
#: Two set-up forms sent at the same moment in one process make one admin, not two.
_creating = asyncio.Lock()


def setup_token(secret_key: str) -> str:
    """The set-up token of this installation (22 characters, 128 bits)."""
    digest = hmac.new(secret_key.encode(), b"market first-run set-up", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def token_matches(secret_key: str, token: str) -> bool:
    return hmac.compare_digest(token.encode(), setup_token(secret_key).encode())


def setup_link(base_url: str, secret_key: str) -> str:
    return f"{base_url.rstrip('/')}{SETUP_PATH}?token={setup_token(secret_key)}"


async def admin_exists() -> bool:
    """Whether anyone not erased holds the admin role, in any community."""
    # Roles are stored as sorted, comma-joined names; no other role contains "admin".
    return await Person.exists().where(Person.roles.like("%admin%") & Person.erased_at.is_null())


def console_notice(base_url: str, secret_key: str) -> str:
    """What ``market serve`` prints while there is no admin: the two ways to make the first."""
    link = setup_link(base_url, secret_key)
    return (
        "\n"
        "还没有管理员账号。在浏览器中打开下面的链接，创建第一个管理员（链接只在创建前有效）：\n"
        "No admin exists yet. Open this link in a browser to create the first admin\n"
        "(it works until one exists):\n"
        f"\n    {link}\n\n"
        "或者 / or:\n"
        "    market admin create --name 姓名 --phone 手机号 --password '至少8位的密码' --community 社区名称\n"
    )


def next_steps(base_url: str, phone: str) -> str:
    """What ``market admin create`` says after the id: where to sign in and what comes next."""
    return (
        f"管理员已创建。请打开 {base_url.rstrip('/')}/signin ，用手机号 {phone} 和刚才的密码登录，\n"
        "然后在「管理」页面导入居民名册（/admin/import）、打印会员卡（/admin/cards）。\n"
        f"Admin created. Sign in at {base_url.rstrip('/')}/signin with phone {phone} and the password,\n"
        "then import the residents' roster (/admin/import) and print their member cards (/admin/cards)."
    )


def problems(community_name: str, new: NewPerson) -> dict[str, MarketError]:
    """Every field the set-up form got wrong, at once (field → the refusal)."""
    found: dict[str, MarketError] = {}
    if not 1 <= len(" ".join(community_name.split())) <= 100:
        found["community"] = InvalidInput("invalid_community_name", field="community")
    checks = (("name", lambda: rules.clean_name(new.name)), ("phone", lambda: rules.check_phone(new.phone)),
              ("password", lambda: credentials.check_password(new.password, frozenset({"admin"}))))
    for field, check in checks:
        try:
            check()
        except MarketError as error:
            found[field] = error
    return found


async def create_first_admin(
    secret_key: str, token: str, community_name: str, new: NewPerson, *,
    hasher: SecretHasher, ledger: Ledger,
) -> PersonView:
    """Make the first admin (and the community). Refused with a wrong token or once an admin exists."""
    if not token_matches(secret_key, token):
        raise SetupTokenInvalid()
    if found := problems(community_name, new):
        raise next(iter(found.values()))
    async with _creating:
        if await admin_exists():
            raise Conflict("setup_done")
        community = await communities.get_or_create(ledger, community_name)
        person = await create_person(community.id, NewPerson(
            name=new.name, phone=new.phone, roles=["admin"], password=new.password,
        ), hasher=hasher, ledger=ledger)
        await AuditEntry.insert(AuditEntry(
            community=community.id, actor=person.id, action="first_admin_created",
            subject=f"person:{person.id}",
        ))
    return person
