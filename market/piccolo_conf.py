"""Piccolo's configuration: the database engine, chosen by ``DATABASE_URL``, and the apps.

It lives inside the package so an installed ``market`` finds it from any
directory (``market/__init__.py`` points ``PICCOLO_CONF`` here). Piccolo
imports it once per process, so the environment must be set before anything
touches a table (the tests do so in ``tests/conftest.py``).
"""

from piccolo.conf.apps import AppRegistry

from market.settings import database_url_from_env, engine_of, sqlite_path

DATABASE_URL = database_url_from_env()

if engine_of(DATABASE_URL) == "postgres":
    from market.pg_engine import BoundedPostgresEngine

    # asyncpg passes unknown DSN query parameters as server settings, so
    # ``?search_path=schema`` selects a schema (the tests rely on it).
    DB = BoundedPostgresEngine(config={"dsn": DATABASE_URL})
else:
    from ledger import SQLITE_BUSY_TIMEOUT
    from market.sqlite_pool import PooledSQLiteEngine

    # Writers wait for each other's lock as the ledger's do, then fail (503).
    DB = PooledSQLiteEngine(path=str(sqlite_path(DATABASE_URL)), timeout=SQLITE_BUSY_TIMEOUT)

APP_REGISTRY = AppRegistry(apps=["market.piccolo_app", "ledger.piccolo_app"])
