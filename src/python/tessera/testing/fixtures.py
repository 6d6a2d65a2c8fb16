"""pytest fixtures that give tests real PostgreSQL, Redis and Kafka.

One set of servers per pytest session (started here, or taken from TESSERA_INFRA_* when a stack is already
running); each test gets its own database and Kafka topic prefix, so tests never see each other's data.
Import the fixtures into a conftest.py. Tests that use them carry the `integration` marker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tessera.kit.db import ensure_database
from tessera.localinfra import InfraEndpoints, LocalInfra

__all__ = ["infra", "kafka_bootstrap", "postgres_dsn", "redis_url", "topic_prefix"]


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraEndpoints]:
    external = InfraEndpoints.from_env()
    if external is not None:
        yield external
        return
    with LocalInfra() as local:
        print(f"\nlocal infra started: {local.startup_seconds}")
        yield local.endpoints


@pytest.fixture
async def postgres_dsn(infra: InfraEndpoints) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield await ensure_database(infra.postgres_dsn, name)
    admin = await asyncpg.connect(infra.postgres_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def redis_url(infra: InfraEndpoints) -> str:
    return infra.redis_url


@pytest.fixture
def kafka_bootstrap(infra: InfraEndpoints) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test for every Kafka topic (and consumer group) it uses."""
    return f"t{uuid.uuid4().hex[:10]}."
