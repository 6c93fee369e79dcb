"""The application's configuration, read from the environment once.

``DATABASE_URL`` picks the engine (an SQLite file by default, PostgreSQL for
scale); ``MARKET_SECRET_KEY`` signs tokens. With SQLite and no key, a random key
is generated and kept beside the database file, so restarts keep it.
"""

import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

EngineName = Literal["sqlite", "postgres"]

DEFAULT_DATABASE_URL = "sqlite:///market.db"
_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class SettingsError(RuntimeError):
    """The environment asks for something the app cannot run with."""


def engine_of(database_url: str) -> EngineName:
    """Which database engine a URL names; anything else is a configuration error."""
    if database_url.startswith(_SQLITE_PREFIX):
        return "sqlite"
    if database_url.startswith(_POSTGRES_PREFIXES):
        return "postgres"
    raise SettingsError(
        f"DATABASE_URL must start with {_SQLITE_PREFIX!r} or 'postgresql://', "
        f"not {database_url.split(':', 1)[0]!r}"
    )


def sqlite_path(database_url: str) -> Path:
    """The absolute path of an SQLite URL's file.

    ``sqlite:///market.db`` is relative to the working directory and
    ``sqlite:////srv/market.db`` is absolute. It is resolved once, here, so
    Piccolo and the ledger (which open their own connections) use the same file
    even if something changes the working directory later.
    """
    return Path(database_url.removeprefix(_SQLITE_PREFIX)).expanduser().absolute()


def database_url_from_env() -> str:
    """``DATABASE_URL`` with SQLite paths made absolute; what piccolo_conf and Settings use.
    A PostgreSQL URL may end in ``?pgbouncer=1`` (it names a PgBouncer in transaction mode:
    ``ledger.stores.pg_pool``); a value other than 1 or 0 there is refused here."""
    url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if engine_of(url) == "sqlite":
        return _SQLITE_PREFIX + str(sqlite_path(url))
    from ledger import behind_pgbouncer

    try:
        behind_pgbouncer(url)
    except ValueError as error:
        raise SettingsError(f"DATABASE_URL: {error}") from None
    return url


def secret_file(db_file: Path) -> Path:
    """The key file kept beside an SQLite database: ``market.db`` → ``market.db.secret``."""
    return db_file.with_name(db_file.name + ".secret")


def secret_key_from_env() -> str:
    """``MARKET_SECRET_KEY``, or ``""`` when it is not set."""
    return os.environ.get("MARKET_SECRET_KEY", "").strip()


def _secret_beside(db_file: Path) -> str:
    """Read, or create with mode 0600, the key file next to the SQLite database."""
    key_file = secret_file(db_file)
    try:
        return key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        # O_EXCL: if two workers start at once, exactly one writes the key and
        # the other reads it, so both sign with the same key.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


#: A source a CSP's ``frame-ancestors`` may name: an origin (a host may start with ``*.``), or 'self'.
_FRAME_SOURCE = re.compile(r"'self'|https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")


def frame_ancestors_from_env() -> tuple[str, ...]:
    sources = tuple(os.environ.get("MARKET_FRAME_ANCESTORS", "").replace(",", " ").split())
    for source in sources:
        if not _FRAME_SOURCE.fullmatch(source):
            raise SettingsError(
                f"MARKET_FRAME_ANCESTORS: {source!r} is not an origin such as https://servicewechat.com"
            )
    return sources


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    #: The public URL put into QR codes; ``market serve`` fills it from host and port.
    base_url: str | None = None
    debug: bool = False
    #: How long a sign-in lasts, absolute (not sliding).
    session_hours: float = 12.0
    #: Believe ``X-Forwarded-Proto`` (set only behind a reverse proxy that sets it).
    trust_proxy: bool = False
    #: Run every sweep (stays, orders, checkpoints) this often instead of at its own
    #: interval: for tests and demonstrations (``MARKET_SWEEP_SECONDS``).
    sweep_seconds: float | None = None
    #: Who may show our pages in a frame (``MARKET_FRAME_ANCESTORS``, CSP sources such as
    #: ``https://servicewechat.com``); nobody by default.
    frame_ancestors: tuple[str, ...] = ()

    @property
    def engine(self) -> EngineName:
        return engine_of(self.database_url)

    @property
    def ledger_url(self) -> str:
        """The URL ``ledger.Ledger.from_url`` takes for the same database."""
        if self.engine == "sqlite":
            return _SQLITE_PREFIX + str(sqlite_path(self.database_url))
        return self.database_url

    @classmethod
    def from_env(cls) -> "Settings":
        database_url = database_url_from_env()
        engine = engine_of(database_url)
        secret_key = secret_key_from_env()
        if not secret_key:
            if engine == "postgres":
                # Several servers share one PostgreSQL; a key made up by each
                # would not match the others', so it must be configured.
                raise SettingsError("MARKET_SECRET_KEY must be set when DATABASE_URL is PostgreSQL")
            secret_key = _secret_beside(sqlite_path(database_url))
        session_hours = os.environ.get("MARKET_SESSION_HOURS", "").strip() or "12"
        try:
            hours = float(session_hours)
        except ValueError:
            hours = 0.0
        if not 0 < hours <= 24 * 90:
            raise SettingsError("MARKET_SESSION_HOURS must be a number of hours, up to 2160")
        sweep = os.environ.get("MARKET_SWEEP_SECONDS", "").strip()
        try:
            sweep_seconds = float(sweep) if sweep else None
        except ValueError:
            sweep_seconds = 0.0
        if sweep_seconds is not None and not 0.1 <= sweep_seconds <= 86400:
            raise SettingsError("MARKET_SWEEP_SECONDS must be a number of seconds, 0.1 to 86400")
        return cls(
            database_url=database_url,
            secret_key=secret_key,
            redis_url=os.environ.get("REDIS_URL", "").strip() or None,
            base_url=os.environ.get("MARKET_BASE_URL", "").strip().rstrip("/") or None,
            debug=_flag("MARKET_DEBUG"),
            session_hours=hours,
            trust_proxy=_flag("MARKET_TRUST_PROXY"),
            sweep_seconds=sweep_seconds,
            frame_ancestors=frame_ancestors_from_env(),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()
