"""Session fixtures: one real embedded stack (Temporal, Tansu, SMTP sink), a seeded database,
and an in-process worker and bridge, started once for the whole integration session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker
from support.bridges import running
from temporalio.client import Client

from activities.directory import DirectoryActivities
from activities.store.engine import open_engine, session_factory
from talentloop.dev.devstack import DevStack
from talentloop.dev.seed import seed
from talentloop.dev.teststack import private_settings
from talentloop.service.bridge import Bridge, directory_check
from talentloop.service.config import Settings
from talentloop.service.temporal import connect
from talentloop.service.worker import running_worker


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("stack")
    settings = private_settings(state, database_url=f"sqlite:///{state / 'app.db'}")
    stack = DevStack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()


@pytest.fixture(scope="session")
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = session_factory(open_engine(settings.db_url))
    seed(factory, settings.onet_dir, employees=40)
    return factory


@pytest.fixture(scope="session")
async def client(settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def worker(
    client: Client, settings: Settings, sessions: sessionmaker[Session]
) -> AsyncIterator[None]:
    async with running_worker(client, settings):
        yield


@pytest.fixture(scope="session")
async def bridge(
    client: Client, settings: Settings, sessions: sessionmaker[Session], worker: None
) -> AsyncIterator[Bridge]:
    known = directory_check(DirectoryActivities(sessions).lookup)
    bridge = Bridge(settings, client, known_employee=known)
    async with running(bridge):
        yield bridge
