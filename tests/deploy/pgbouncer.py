"""Debian's PgBouncer run by a test: ``deploy/pgbouncer/pgbouncer.ini`` as shipped, pointed at a
database of the test's own on the shared PostgreSQL, with a small pool.

What the test changes in the file is what DEPLOY.md says to change plus what a test needs: the
address and port (a free one of ``MARKET_TEST_BOUNCER_PORTS``, default 6431–6439), the database
it serves, trust instead of SCRAM (the shared server trusts local connections), the pool size,
and a directory of its own for the log, the pid file and the user list. PgBouncer refuses to run
as root; as root the test runs it as ``postgres``.
"""

import asyncio
import configparser
import contextlib
import csv
import io
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.checkin_load import REPO
from tests.conftest import PG_URL, run_on_postgres

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
CONF = REPO / "deploy" / "pgbouncer" / "pgbouncer.ini"
#: The name the app's URL asks PgBouncer for, as in the shipped file.
DATABASE = "market"


def _ports() -> range:
    first, _, last = os.environ.get("MARKET_TEST_BOUNCER_PORTS", "6431-6439").partition("-")
    return range(int(first), int(last or first) + 1)


def _taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Bouncer:
    port: int
    pool_size: int
    directory: Path
    process: subprocess.Popen

    def url(self, *, pgbouncer: bool = True) -> str:
        """The app's ``DATABASE_URL`` through this PgBouncer (with ``?pgbouncer=1`` unless told not)."""
        user = urlsplit(PG_URL).username or "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{DATABASE}" + ("?pgbouncer=1" if pgbouncer else "")

    def show(self, what: str) -> list[dict[str, str]]:
        """``SHOW what`` on the admin console (simple queries only, so psql rather than asyncpg)."""
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "pgbouncer",
             "--csv", "-c", f"SHOW {what}"], capture_output=True, text=True, timeout=10, check=True)
        return list(csv.DictReader(io.StringIO(done.stdout)))

    def pool(self) -> dict[str, str]:
        """The market database's line of ``SHOW POOLS``."""
        return next(row for row in self.show("POOLS") if row["database"] == DATABASE)

    def stats(self) -> dict[str, str]:
        return next(row for row in self.show("STATS") if row["database"] == DATABASE)

    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")


def configuration(directory: Path, port: int, dbname: str, pool_size: int) -> str:
    """The shipped file with the test's changes (the module's docstring lists them)."""
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",),
                                       inline_comment_prefixes=None)
    parser.read_string(CONF.read_text())
    host, server_port = urlsplit(PG_URL).hostname or "127.0.0.1", urlsplit(PG_URL).port or 5432
    shipped = parser["databases"][DATABASE]
    assert "dbname=market" in shipped, shipped
    parser["databases"][DATABASE] = f"host={host} port={server_port} dbname={dbname}"
    parser["pgbouncer"].update({
        "listen_addr": "127.0.0.1", "listen_port": str(port), "unix_socket_dir": "",
        "logfile": str(directory / "pgbouncer.log"), "pidfile": str(directory / "pgbouncer.pid"),
        "auth_type": "trust", "auth_file": str(directory / "userlist.txt"), "admin_users": "postgres",
        "default_pool_size": str(pool_size),
    })
    text = io.StringIO()
    parser.write(text)
    return text.getvalue()


@contextlib.contextmanager
def own_database() -> Iterator[str]:
    """The name of a new, empty database on the shared PostgreSQL, dropped afterwards. (Not a
    schema as elsewhere: a schema is chosen with ``?search_path=`` at start-up, which PgBouncer
    does not pass on.)"""
    name = f"market_pgbouncer_{secrets.token_hex(5)}"
    asyncio.run(run_on_postgres(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(run_on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def running_bouncer(dbname: str, pool_size: int) -> Iterator[Bouncer]:
    """PgBouncer in front of ``dbname`` until the block ends (then stopped, its files removed)."""
    # Not pytest's tmp_path: as root that is closed to the user PgBouncer runs as.
    directory = Path(tempfile.mkdtemp(prefix="market-pgbouncer-"))
    bouncer = None
    try:
        # A port another test's PgBouncer took between the look and the bind: the next one.
        for port in (p for p in _ports() if not _taken(p)):
            bouncer = _start(directory, port, dbname, pool_size)
            if bouncer is not None:
                break
        assert bouncer is not None, f"no free port for PgBouncer in {_ports()}"
        yield bouncer
    finally:
        if bouncer is not None:
            _stop(bouncer.process)
        shutil.rmtree(directory, ignore_errors=True)


def _start(directory: Path, port: int, dbname: str, pool_size: int) -> Bouncer | None:
    """PgBouncer listening on ``port``, or None if it could not bind it."""
    ini = directory / "pgbouncer.ini"
    ini.write_text(configuration(directory, port, dbname, pool_size))
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (directory, *directory.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        # setpriv execs PgBouncer itself: the process started here is PgBouncer.
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *command]
    # In the foreground it logs to stderr too (its log file is not there when the file is refused).
    with (directory / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    pidfile = directory / "pgbouncer.pid"
    deadline = time.monotonic() + 10
    # Listening, and it is ours that listens: its pid file names it.
    while not (_taken(port) and pidfile.exists() and pidfile.read_text().strip() == str(process.pid)):
        if process.poll() is not None:
            said = (directory / "stderr.log").read_text(errors="replace")
            assert "Address already in use" in said, said[-2000:]
            return None
        if time.monotonic() > deadline:
            _stop(process)
            raise AssertionError("PgBouncer did not listen within 10 s")
        time.sleep(0.05)
    bouncer = Bouncer(port, pool_size, directory, process)
    # A setting it does not know or a value it does not take is a warning at start, not a failure.
    started = bouncer.log().split("process up")[0]
    assert " WARNING " not in started and " ERROR " not in started, started
    return bouncer


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
