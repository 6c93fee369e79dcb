"""Piccolo's configuration for the ``piccolo`` command run from the repository root.

The real one is ``market/piccolo_conf.py``, which the installed app uses from
any directory; this file only makes the same settings visible under Piccolo's
default module name.
"""

from market.piccolo_conf import APP_REGISTRY, DATABASE_URL, DB

__all__ = ["APP_REGISTRY", "DATABASE_URL", "DB"]
