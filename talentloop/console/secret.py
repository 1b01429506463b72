"""The console's secret key (session cookies and approval links), shared with the worker."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from talentloop.service.config import Settings


def secret_key(settings: Settings) -> str:
    """The key: the setting, else a random key kept in the state dir (mode 0600).

    The worker signs approval links with it and the console verifies them, so in production
    set ``TALENTLOOP_CONSOLE_SECRET_KEY`` (or ``..._FILE``) for both.
    """
    if settings.console_secret_key is not None:
        return settings.console_secret_key.get_secret_value()
    path = Path(settings.state_dir) / "console-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it meanwhile
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)  # the other process is still writing it
    raise RuntimeError(f"{path} is empty: delete it or set TALENTLOOP_CONSOLE_SECRET_KEY")


def public_url(settings: Settings) -> str:
    """The console's URL as people reach it (``TALENTLOOP_CONSOLE_PUBLIC_URL``, else host:port)."""
    if settings.console_public_url:
        return settings.console_public_url.rstrip("/")
    return f"http://{settings.console_host}:{settings.console_port}"
