"""Settings that hold secrets keep them out of reprs and logs."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from vectorops.devtools.controlplane import free_port
from vectorops.embedder.app import create_app
from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.settings import EmbedderSettings

PASSWORD = "s3cret-Pa55"


def test_the_redis_password_is_not_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTOROPS_EMBEDDER_MODEL", "m")
    monkeypatch.setenv("VECTOROPS_EMBEDDER_REDIS_URL", f"redis://default:{PASSWORD}@redis:6379/0")
    settings = EmbedderSettings()  # type: ignore[call-arg]
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == f"redis://default:{PASSWORD}@redis:6379/0"


async def test_nor_in_the_startup_log(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens: the cache is bypassed, which is logged nowhere near the URL
    settings = EmbedderSettings(model="m", redis_url=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    caplog.set_level(logging.DEBUG)
    client = TestClient(TestServer(create_app(settings, lambda _: FakeBackend())))
    await client.start_server()
    try:
        for _ in range(500):
            if (await client.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.01)
        assert (await client.post("/v1/embeddings", json={"model": "m", "input": "x"})).status == 200
    finally:
        await client.close()
    assert f"127.0.0.1:{port}" in caplog.text  # the startup log names the cache it uses...
    assert PASSWORD not in caplog.text  # ...without its password
