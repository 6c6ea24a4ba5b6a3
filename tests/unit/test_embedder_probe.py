"""DirectProbe, the in-cluster default: asks the embedder's Service for its dimension over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from vectorops.devtools.controlplane import free_port
from vectorops.operator.adapters.embedder_probe import DirectProbe, ProbeFailed, parse_dimension

ANSWERS: dict[str, web.Response] = {}


async def models(request: web.Request) -> web.Response:
    return ANSWERS[request.headers["Host"].split(":")[0]]


@pytest.fixture
async def server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


def probe() -> DirectProbe:
    # In a cluster the host is <service>.<namespace>.svc; here every name resolves to loopback.
    return DirectProbe(timeout_s=2, host_pattern="127.0.0.1")


async def test_the_dimension_the_embedder_names(server: int) -> None:
    ANSWERS["127.0.0.1"] = web.json_response({"data": [{"id": "minilm", "dimension": 384}]})
    assert await probe().dimension("ml", "minilm-embedder", server) == 384


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (web.json_response({"error": "loading"}, status=503), "answered 503"),
        (web.json_response({"data": [{"id": "minilm"}]}), "names no dimension (an older image?)"),
        (web.json_response({"data": [{"dimension": 0}]}), "invalid dimension 0"),
        (web.Response(text="<html>"), "did not answer JSON"),
    ],
)
async def test_answers_that_say_nothing_usable_are_reported(
    server: int, answer: web.Response, message: str
) -> None:
    ANSWERS["127.0.0.1"] = answer
    with pytest.raises(ProbeFailed, match=re.escape(message)):
        await probe().dimension("ml", "minilm-embedder", server)


async def test_an_unreachable_embedder_is_reported() -> None:
    with pytest.raises(ProbeFailed, match=r"GET http://127.0.0.1:\d+/v1/models failed"):
        await probe().dimension("ml", "minilm-embedder", free_port())


def test_the_default_host_is_the_services_cluster_name() -> None:
    assert (
        DirectProbe()._host_pattern.format(service="minilm-embedder", namespace="ml")
        == "minilm-embedder.ml.svc"
    )
    assert parse_dimension(b'{"data": [{"dimension": 768}]}') == 768
