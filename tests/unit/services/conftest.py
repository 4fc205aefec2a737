"""A real Redis server (the embedded one) for the service's unit tests, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.redis_server import EmbeddedRedis
from services.store import connect


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "service").start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    connect(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"
