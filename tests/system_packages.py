"""The Debian packages the tests drive for real, installed by the test command when missing.

The README's test command must pass on a fresh machine of ours (Debian, Python 3.11,
PostgreSQL and Redis running, nothing else). The browser tests drive Debian's Chromium, the
pages are looked at with a CJK font, the PDFs are rendered with poppler, the deployment tests
run nginx, pg_dump, systemd-analyze and pgbouncer. Before the first test, once per run (not
in each xdist worker), whatever of these is missing is installed with apt-get when we may
(root, or password-less sudo); otherwise the run stops at once and says what to install —
a missing part never turns into skipped tests.
"""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path


def _has_command(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


#: Debian package → how to tell it is there.
NEEDED: dict[str, Callable[[], bool]] = {
    "chromium": lambda: Path("/usr/bin/chromium").exists(),
    "fonts-wqy-zenhei": _has_cjk_font,
    "poppler-utils": _has_command("pdftoppm"),
    "nginx-light": _has_command("nginx"),
    "postgresql-client": _has_command("pg_dump"),
    "systemd": _has_command("systemd-analyze"),
    "pgbouncer": _has_command("pgbouncer"),
}


def missing() -> list[str]:
    return [package for package, present in NEEDED.items() if not present()]


def _apt() -> list[str] | None:
    """How to run apt-get here, or None when we may not."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return ["apt-get"]
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", "apt-get"]
    return None


def ensure(say: Callable[[str], None] = print) -> None:
    """Install what is missing, or raise ``RuntimeError`` naming it."""
    wanted = missing()
    if not wanted:
        return
    apt = _apt()
    if apt is None:
        raise RuntimeError(
            "the tests need these Debian packages: " + " ".join(wanted)
            + f"; install them (apt-get install -y {' '.join(wanted)}) and run the tests again"
        )
    say(f"installing what the tests need: {' '.join(wanted)} (apt-get, once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*apt, "install", "-y", "-q", *wanted]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run([*apt, "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"apt-get could not install {' '.join(wanted)}:\n{done.stderr[-2000:]}")
    if still := missing():
        raise RuntimeError("still missing after apt-get: " + " ".join(still))
