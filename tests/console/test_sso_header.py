"""Identity from a trusted reverse-proxy header: off by default, on when configured."""

from __future__ import annotations

from pathlib import Path

import httpx
from console_server import seed

from activities.store.engine import open_engine, session_factory
from talentloop.console.app import ConsoleConfig, create_app


async def test_trusted_header_only_when_configured(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        sessions = session_factory(engine)
        seed(sessions)
        plain = create_app(sessions, ConsoleConfig(secret_key="k" * 32))
        sso = create_app(
            sessions, ConsoleConfig(secret_key="k" * 32, trusted_user_header="X-Remote-User")
        )
        base = "http://console.test"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url=base) as c:
            r = await c.get("/", headers={"X-Remote-User": "admin"})
            assert r.status_code == 303  # ignored: not configured
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sso), base_url=base) as c:
            assert (await c.get("/", headers={"X-Remote-User": "viewer"})).status_code == 200
            assert (await c.get("/", headers={"X-Remote-User": "nobody"})).status_code == 303
            r = await c.get("/employees/S00001", headers={"X-Remote-User": "lead"})
            assert r.status_code == 403
    finally:
        engine.dispose()
