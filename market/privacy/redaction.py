"""Keeps personal data out of logs the app does not write itself.

uvicorn's access log prints each request's path *with* its query string, and a
search such as ``/api/people?q=13800000000`` would put a phone number in it.
"""

import logging

ACCESS_LOGGER = "uvicorn.access"


class DropQueryString(logging.Filter):
    """Rewrites uvicorn access records to show the path without ``?query``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) \
                and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def install() -> None:
    """Idempotent: called by every ``create_app`` (each worker process builds its app)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, DropQueryString) for f in access.filters):
        access.addFilter(DropQueryString())
