"""Registers the market's tables and hand-written migrations with Piccolo."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from market.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="market",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=list(TABLES),
    # The ledger's tables first: later market migrations index them (leaderboards).
    migration_dependencies=["ledger.piccolo_app"],
    commands=[],
)
