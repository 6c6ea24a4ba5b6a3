"""Module-wide servers for the collections data path tests (started once: PostgreSQL takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.datapath_env import DIM, Env
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin.server import StandInQdrant


@pytest.fixture(scope="module")
def datapath_servers() -> Iterator[tuple[LocalPostgres, StandInQdrant, FakeProvider]]:
    pg = LocalPostgres.start()
    qdrant = StandInQdrant(port=free_port()).start()
    provider = FakeProvider(dimension=DIM, models=("e5-up",)).start()
    try:
        yield pg, qdrant, provider
    finally:
        provider.stop()
        qdrant.stop()
        pg.stop()


@pytest.fixture
def env(datapath_servers: tuple[LocalPostgres, StandInQdrant, FakeProvider]) -> Env:
    pg, qdrant, provider = datapath_servers
    return Env(pg, qdrant, provider)
