"""The ``market`` command: serve, migrate, create an admin, import residents, verify the ledger,
make and check the transparency checkpoints, check the reports' tallies, back up and restore.

Configuration comes from the environment (see ``market.settings``). Each
command runs its async work with ``asyncio.run`` and exits non-zero on failure.

One module over 500 lines on purpose: it is the command line's one parser, and each command
only reads its arguments and calls the module that does the work.
"""

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Coroutine, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from ledger import Ledger
from market.errors import MarketError
from market.messages import Language, message, preferred_language
from market.settings import (
    Settings,
    SettingsError,
    database_url_from_env,
    get_settings,
    secret_key_from_env,
)

if TYPE_CHECKING:
    from market.people.roster import Roster


def _language() -> Language:
    # LANG=en_US.UTF-8 → English; anything else gets the product's Chinese.
    return preferred_language(os.environ.get("LANG", "").replace("_", "-").split(".")[0])


def _fail(text: str) -> int:
    print(text, file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from market import first_run
    from market.db import migrate

    get_settings()  # a configuration error stops us here, not in every worker

    async def prepare() -> bool:
        # Migrate once here, before any worker starts, so workers do not race to
        # create the same tables (each still checks in its own lifespan).
        await migrate()
        return await first_run.admin_exists()

    has_admin = asyncio.run(prepare())
    os.environ.setdefault("MARKET_BASE_URL", f"http://{args.host}:{args.port}")
    get_settings.cache_clear()
    if not has_admin:  # a fresh install: say how to make the first admin (see market.first_run)
        settings = get_settings()
        notice = first_run.console_notice(settings.base_url or "", settings.secret_key)
        print(notice, file=sys.stderr, flush=True)
    uvicorn.run(
        "market.app:serve_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level="info",
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from market.db import migrate

    asyncio.run(migrate())
    print("database is up to date")
    return 0


async def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from market import first_run
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
    # The id alone on standard output (scripts read it); what to do next for the reader.
    print(first_run.next_steps(settings.base_url or "http://127.0.0.1:8000", args.phone), file=sys.stderr)
    return 0


def _run_refusing(work: Coroutine[Any, Any, int]) -> int:
    """Run a command's work; a refusal (``MarketError``) is said on stderr in the user's language
    and exits 1."""
    try:
        return asyncio.run(work)
    except MarketError as error:
        params = {"field": error.field or "", **error.params}
        return _fail(message(error.reason, _language(), **params))


def cmd_admin_create(args: argparse.Namespace) -> int:
    return _run_refusing(_create_admin(get_settings(), args))


async def _find_communities(typed: list[str]) -> list[int] | str:
    """The ids of communities named by name or slug, or the first name that matches none."""
    from market.community import service as communities
    from market.community import slugs

    ids = []
    for name in typed:
        found = await communities.named(name)
        if found is None:
            try:
                found = await slugs.resolve(name)
            except MarketError:
                return name
        ids.append(found.id)
    return ids


async def _subdistrict_create(args: argparse.Namespace) -> int:
    from market.db import migrate
    from market.subdistricts import service as subdistricts

    await migrate()
    ids = await _find_communities(args.community)
    if isinstance(ids, str):
        return _fail(message("community_not_found", _language()) + f": {ids}")
    view = await subdistricts.create(args.name, ids, args.shared_redemption)
    print(view.id)
    names = "、".join(c.name for c in view.communities)
    shared = "on" if view.shared_redemption else "off"
    print(f"subdistrict {view.id} {view.name}: {len(view.communities)} communities ({names});"
          f" shared redemption {shared}", file=sys.stderr)
    return 0


async def _subdistrict_admin(settings: Settings, args: argparse.Namespace) -> int:
    from market.auth.hashing import SecretHasher
    from market.auth.roles import ROLES, SUBDISTRICT_ADMIN
    from market.db import migrate
    from market.people.service import NewPerson, create_person
    from market.subdistricts import service as subdistricts

    await migrate()
    view = await subdistricts.named(args.subdistrict)
    if view is None or not view.communities:
        return _fail(message("subdistrict_not_found", _language()))
    async with Ledger.from_url(settings.ledger_url) as ledger:
        # The office's account lives in the subdistrict's first community (every person has one);
        # its role acts inside none of them.
        new = NewPerson(name=args.name, phone=args.phone, roles=[SUBDISTRICT_ADMIN], password=args.password)
        person = await create_person(view.communities[0].id, new, hasher=SecretHasher(), ledger=ledger,
                                     allowed_roles=ROLES | {SUBDISTRICT_ADMIN})
    await subdistricts.add_admin(view.id, person.id)
    print(person.id)
    base = settings.base_url or "http://127.0.0.1:8000"
    print(f"sign in at {base}/signin with {args.phone} and the password; the office's pages are at"
          f" {base}/subdistrict", file=sys.stderr)
    return 0


def cmd_subdistrict_create(args: argparse.Namespace) -> int:
    return _run_refusing(_subdistrict_create(args))


def cmd_subdistrict_admin(args: argparse.Namespace) -> int:
    return _run_refusing(_subdistrict_admin(get_settings(), args))


async def _verify(settings: Settings, args: argparse.Namespace) -> int:
    from market.community import service as communities
    from market.db import migrate

    await migrate()
    community = None
    if args.community:
        community = await communities.named(args.community)
        if community is None:
            return _fail(message("community_not_found", _language()))
    async with Ledger.from_url(settings.ledger_url) as ledger:
        report = await ledger.verify(None if community is None else community.id)
    if community is None:
        print(f"entries:  {report.entries} (in every community's chain, and before the upgrade to them)")
        for chain in report.chains:
            print(f"community {chain.ledger}: {chain.entries} entries, head {chain.head}")
    else:
        print(f"community: {community.id} {community.name}")
        print(f"entries:  {report.entries}")
        print(f"head:     {report.head}")
    print(f"accounts: {report.accounts}")
    print(f"total:    {report.total:.2f} (must be 0.00)")
    if community is None:
        print(f"clearing: {report.clearing_pairs} pair(s) of communities (each pair must sum to 0.00)")
    if report.ok:
        print("ledger OK: hash chains, balances, zero sums and clearing pairs all check out")
        return 0
    problem = report.problem
    where = "" if problem is None or problem.ledger is None else (
        f" in the chain of community {problem.ledger}")
    if problem is not None and problem.seq is not None:
        where += f" at entry {problem.seq} (id {problem.transfer_id})"
    print(f"ledger BROKEN{where}: {problem.message if problem else 'unknown'}", file=sys.stderr)
    return 1


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(get_settings(), args))


def cmd_backup(args: argparse.Namespace) -> int:
    # Not get_settings(): on SQLite it would make up a key file beside a database that may not exist.
    from market import backups

    language = _language()
    try:
        notes = backups.backup(database_url_from_env(), Path(args.file), force=args.force)
    except MarketError as error:
        return _fail(message(error.reason, language, **error.params))
    for note in notes:
        print(message(note.reason, language, **note.params))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from market import backups

    language = _language()
    url = database_url_from_env()  # the ledger's URL too: absolute for SQLite, as is for PostgreSQL
    try:
        notes = asyncio.run(backups.restore(url, Path(args.file), force=args.force))
    except MarketError as error:
        return _fail(message(error.reason, language, **error.params))
    for note in notes:
        print(message(note.reason, language, **note.params))
    # A backup of an older release is brought up to date, then every chain is checked as by
    # `market ledger verify`; the signing key plays no part in that.
    return asyncio.run(_verify(Settings(database_url=url, secret_key=secret_key_from_env()), args))


async def _checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from market.community import service as communities
    from market.db import migrate
    from market.reports import checkpoint_service

    await migrate()
    if args.community:
        community = await communities.named(args.community)
        if community is None:
            return _fail(message("community_not_found", _language()))
        made = [await checkpoint_service.make_checkpoint(settings, community.id)]
    else:
        made = await checkpoint_service.checkpoint_all(settings)
    for checkpoint in made:
        chain = "entry" if checkpoint.version >= 2 else "legacy entry"
        print(f"community {checkpoint.community_id}  {checkpoint.day}  {chain} {checkpoint.head} "
              f"{checkpoint.head_hash}  checkpoint {checkpoint.hash}")
        print(f"  public key {checkpoint.public_key}")
    return 0


async def _expire(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime

    from market import clock
    from market.china_time import CHINA
    from market.community import service as communities
    from market.db import migrate
    from market.points import expiry

    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            return _fail(message("invalid_moment", _language()))
        if at.tzinfo is None:  # a moment without an offset is China time, as the office reads it
            at = at.replace(tzinfo=CHINA)
    else:
        at = clock.now()
    await migrate()
    async with Ledger.from_url(settings.ledger_url) as ledger:
        if args.community:
            community = await communities.named(args.community)
            if community is None:
                return _fail(message("community_not_found", _language()))
            done = [await expiry.clear(ledger, community.id, at)]
        else:
            done = await expiry.clear_all(ledger, at)
    for cleared in done:
        print(f"community {cleared.community_id}  expired at {at.isoformat()}: "
              f"{Decimal(cleared.hundredths) / 100:.2f} points of {cleared.people} people"
              + (f" ({cleared.held_back} with expired points held by a reservation)"
                 if cleared.held_back else ""))
    return 0


def cmd_points_expire(args: argparse.Namespace) -> int:
    return asyncio.run(_expire(get_settings(), args))


def cmd_transparency_checkpoint(args: argparse.Namespace) -> int:
    return _run_refusing(_checkpoint(get_settings(), args))


def cmd_transparency_verify(args: argparse.Namespace) -> int:
    # The same check anyone runs offline; it needs neither the database nor the settings.
    from market.reports import checkpoint_verify

    argv = [args.file, "--public-key", args.public_key]
    argv += ["--transfer", args.transfer] if args.transfer else []
    return checkpoint_verify.main(argv + (["--legacy", args.legacy] if args.legacy else []))


async def _tallies(args: argparse.Namespace) -> int:
    from market.community import service as communities
    from market.db import migrate
    from market.reports import tallies

    await migrate()
    community_id = None
    if args.community:
        community = await communities.named(args.community)
        if community is None:
            return _fail(message("community_not_found", _language()))
        community_id = community.id
    if args.tallies_command == "refill":
        await tallies.refill()
    differences, compared = await tallies.check(community_id)
    for difference in differences[:20]:
        print(f"{difference.table} {difference.key}: kept {difference.kept}, counted {difference.counted}",
              file=sys.stderr)
    if differences:
        print(f"tallies BROKEN: {len(differences)} of {compared} sums differ from the rows they count"
              " (`market reports refill` sums them again)", file=sys.stderr)
        return 1
    print(f"tallies OK: {compared} sums agree with the rows they count")
    return 0


def cmd_reports_tallies(args: argparse.Namespace) -> int:
    return asyncio.run(_tallies(args))


_STAGES = {"people": "导入", "wallets": "开通积分账户"}


class ProgressBar:
    """``\r导入 4200/10000 [#####.....]`` on stderr, redrawn only when it changes."""

    WIDTH = 30

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.last: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        if self.last == (stage, filled) and done != total:
            return
        if self.last is not None and self.last[0] != stage:
            self.stream.write("\n")
        self.last = (stage, filled)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{_STAGES.get(stage, stage)} {done}/{total} [{bar}]")
        self.stream.flush()

    def finish(self) -> None:
        if self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


async def _import_residents(settings: Settings, args: argparse.Namespace, parsed: "Roster") -> int:
    from market.community import service as communities
    from market.db import migrate
    from market.people import roster

    language = _language()
    await migrate()
    community = (
        await communities.named(args.community) if args.community else await communities.first()
    )
    if community is None:
        reason = "community_not_found" if args.community else "no_community"
        return _fail(message(reason, language))
    bar = ProgressBar()
    async with Ledger.from_url(settings.ledger_url) as ledger:
        try:
            summary = await roster.import_roster(
                community.id, parsed, ledger=ledger, dry_run=args.dry_run, progress=bar
            )
        finally:
            bar.finish()
    prefix = "（试运行，未写入）" if summary.dry_run else ""
    print(
        f"{prefix}{community.name}：共 {summary.rows} 行，新增 {summary.created} 人，"
        f"更新 {summary.updated} 人，未变 {summary.unchanged} 人；新增小区 {summary.new_compounds}、"
        f"楼栋 {summary.new_buildings}、户 {summary.new_households}、网格 {summary.new_grids}、"
        f"志愿服务队 {summary.new_teams}"
    )
    return 0


def cmd_import_residents(args: argparse.Namespace) -> int:
    from market.people.roster import RosterRejected, read_roster

    language = _language()
    try:
        with open(args.file, "rb") as file:
            data = file.read()
    except OSError as error:
        return _fail(f"{args.file}: {error.strerror or error}")
    try:
        parsed = read_roster(data, args.file)
        if parsed.bad:
            raise RosterRejected(parsed.bad)
        return asyncio.run(_import_residents(get_settings(), args, parsed))
    except RosterRejected as rejected:
        for bad in rejected.bad:
            print(f"第{bad.row}行: {bad.reason} — {bad.detail(language)}", file=sys.stderr)
        return _fail(message(rejected.reason, language, **rejected.params))
    except MarketError as error:
        params = {"field": error.field or "", **error.params}
        return _fail(message(error.reason, language, **params))


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

    subdistrict = commands.add_parser("subdistrict", help="subdistricts (街道): communities grouped")
    subdistrict_commands = subdistrict.add_subparsers(dest="subdistrict_command", required=True)
    group = subdistrict_commands.add_parser(
        "create", help="group communities under a subdistrict (idempotent); prints its id"
    )
    group.add_argument("name")
    group.add_argument("--community", action="append", required=True,
                       help="a community's name or slug; repeat for each")
    group.add_argument("--shared-redemption", action=argparse.BooleanOptionalAction, default=None,
                       help="turn 通存通兑 on (--no-shared-redemption: off); unchanged when absent")
    group.set_defaults(run=cmd_subdistrict_create)
    office = subdistrict_commands.add_parser(
        "admin", help="create an admin of a subdistrict; prints the person's id"
    )
    office.add_argument("--subdistrict", required=True, help="the subdistrict's name")
    office.add_argument("--name", required=True)
    office.add_argument("--phone", required=True)
    office.add_argument("--password", required=True)
    office.set_defaults(run=cmd_subdistrict_admin)

    imports = commands.add_parser("import", help="import data from files")
    import_commands = imports.add_subparsers(dest="import_command", required=True)
    residents = import_commands.add_parser(
        "residents", help="import a roster (.xlsx or .csv); nothing is imported if any row is bad"
    )
    residents.add_argument("file", help="the roster file, .xlsx or .csv")
    residents.add_argument("--community", help="community name; default: the first community")
    residents.add_argument(
        "--dry-run", action="store_true", help="check the file and count changes, write nothing"
    )
    residents.set_defaults(run=cmd_import_residents)

    ledger = commands.add_parser("ledger", help="the points ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="check the hash chains, every balance and the zero sums (all communities, or one)"
    )
    verify.add_argument("--community", help="check only this community's chain and books (its name)")
    verify.set_defaults(run=cmd_ledger_verify)

    points = commands.add_parser("points", help="the points rules")
    points_commands = points.add_subparsers(dest="points_command", required=True)
    expire = points_commands.add_parser(
        "expire", help="clear expired points now (the server does it every hour); safe to repeat"
    )
    expire.add_argument("--at", help="the moment, ISO 8601 (default now; no offset: China time)")
    expire.add_argument("--community", help="community name; default: every community")
    expire.set_defaults(run=cmd_points_expire)

    transparency = commands.add_parser("transparency", help="signed daily checkpoints (阳光积分)")
    transparency_commands = transparency.add_subparsers(dest="transparency_command", required=True)
    checkpoint = transparency_commands.add_parser(
        "checkpoint", help="make today's checkpoint now (of every community; idempotent per day)"
    )
    checkpoint.add_argument("--community", help="community name; default: every community")
    checkpoint.set_defaults(run=cmd_transparency_checkpoint)
    check = transparency_commands.add_parser(
        "verify", help="check a downloaded history or proof file offline with the public key"
    )
    check.add_argument("file", help="checkpoints.json or a proof file")
    check.add_argument("--public-key", required=True, help="the community's public key (64 hex digits)")
    check.add_argument("--transfer", help="also confirm that this transfer id is in the signed chain")
    check.add_argument("--legacy", help="the community's legacy.json: also check where its chain began")
    check.set_defaults(run=cmd_transparency_verify)

    backup = commands.add_parser(
        "backup", help="copy the database (consistent, while the server runs) and, on SQLite, its key"
    )
    backup.add_argument("file", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    backup.set_defaults(run=cmd_backup)
    restore = commands.add_parser(
        "restore", help="put a backup into an empty database (stop the server first), then verify"
    )
    restore.add_argument("file", help="a file made by market backup")
    restore.add_argument("--force", action="store_true", help="replace a database that holds data")
    restore.set_defaults(run=cmd_restore, community=None)

    reports = commands.add_parser("reports", help="the sums behind the leaderboards and dashboards")
    reports_commands = reports.add_subparsers(dest="tallies_command", required=True)
    tally_check = reports_commands.add_parser(
        "check", help="compare the tallies with the transfers, stays and sales they count"
    )
    tally_check.add_argument("--community", help="community name; default: every community")
    tally_check.set_defaults(run=cmd_reports_tallies)
    refill = reports_commands.add_parser(
        "refill", help="sum every tally again from the rows (stop the server first), then check"
    )
    refill.set_defaults(run=cmd_reports_tallies, community=None)
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
