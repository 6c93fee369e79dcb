"""The ``market`` command: serve, migrate, create an admin, verify the ledger.

Configuration comes from the environment (see ``market.settings``). Each
command runs its async work with ``asyncio.run`` and exits non-zero on failure.
"""

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence

import asyncpg

from ledger import Ledger
from market.errors import MarketError
from market.messages import Language, message, preferred_language
from market.settings import Settings, SettingsError, get_settings


def _language() -> Language:
    # LANG=en_US.UTF-8 → English; anything else gets the product's Chinese.
    return preferred_language(os.environ.get("LANG", "").replace("_", "-").split(".")[0])


def _fail(text: str) -> int:
    print(text, file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from market.db import migrate

    get_settings()  # a configuration error stops us here, not in every worker
    # Migrate once here, before any worker starts, so workers do not race to
    # create the same tables (each still checks in its own lifespan).
    asyncio.run(migrate())
    os.environ.setdefault("MARKET_BASE_URL", f"http://{args.host}:{args.port}")
    get_settings.cache_clear()
    uvicorn.run(
        "market.app:create_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level="info",
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from market.db import migrate

    asyncio.run(migrate())
    print("database is up to date")
    return 0


async def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from market.auth.hashing import SecretHasher
    from market.community import service as communities
    from market.db import migrate
    from market.people.service import NewPerson, create_person

    await migrate()
    async with Ledger.from_url(settings.ledger_url) as ledger:
        if args.community:
            community = await communities.get_or_create(ledger, args.community)
        else:
            community = await communities.first() or await communities.get_or_create(
                ledger, communities.DEFAULT_NAME
            )
            await communities.open_ledger_accounts(ledger, community.id)
        new = NewPerson(name=args.name, phone=args.phone, roles=["admin"], password=args.password)
        person = await create_person(community.id, new, hasher=SecretHasher(), ledger=ledger)
    print(person.id)
    return 0


def cmd_admin_create(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_create_admin(get_settings(), args))
    except MarketError as error:
        params = {"field": error.field or "", **error.params}
        return _fail(message(error.reason, _language(), **params))


async def _verify(settings: Settings) -> int:
    from market.db import migrate

    await migrate()
    async with Ledger.from_url(settings.ledger_url) as ledger:
        report = await ledger.verify()
    print(f"entries:  {report.entries}")
    print(f"accounts: {report.accounts}")
    print(f"head:     {report.head}")
    print(f"total:    {report.total:.2f} (must be 0.00)")
    if report.ok:
        print("ledger OK: hash chain, balances and zero sum all check out")
        return 0
    problem = report.problem
    if problem is not None and problem.seq is not None:
        where = f" at transfer seq {problem.seq} (id {problem.transfer_id})"
    else:
        where = ""
    print(f"ledger BROKEN{where}: {problem.message if problem else 'unknown'}", file=sys.stderr)
    return 1


def cmd_ledger_verify(_: argparse.Namespace) -> int:
    return asyncio.run(_verify(get_settings()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="market", description="积分超市 — community points market")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database")
    migrate.set_defaults(run=cmd_migrate)

    admin = commands.add_parser("admin", help="manage admins")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser("create", help="create an admin; prints the person's id")
    create.add_argument("--name", required=True)
    create.add_argument("--phone", required=True)
    create.add_argument("--password", required=True)
    create.add_argument(
        "--community", help="community name (created if needed); default: the first community"
    )
    create.set_defaults(run=cmd_admin_create)

    ledger = commands.add_parser("ledger", help="the points ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="check the hash chain, every balance and the zero sum"
    )
    verify.set_defaults(run=cmd_ledger_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SettingsError as error:
        return _fail(f"configuration error: {error}")
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        # Unreachable server, wrong role, unwritable file: say so in one line.
        return _fail(f"database error: {error}")


if __name__ == "__main__":
    sys.exit(main())
