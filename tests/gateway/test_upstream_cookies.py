"""A provider's cookies never travel on a later request: the gateway serves many clients over one
connection pool, so a cookie one answer sets must not ride on another client's call."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from vectorops.gateway.upstream import Upstream
from vectorops.routing.table import Backend


async def test_a_cookie_a_provider_sets_is_never_sent_back() -> None:
    seen: list[str | None] = []

    async def embeddings(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response(
            {"data": [{"index": 0, "embedding": [1.0, 0.0]}], "usage": {"prompt_tokens": 1}}
        )
        response.set_cookie("session", "client-a-affinity")
        return response

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    async with TestServer(app, host="127.0.0.1") as server:
        # A host name, not an IP address: aiohttp's default jar keeps cookies only for names.
        url = f"http://localhost:{server.port}/v1"
        backend = Backend(source="ExternalModelEndpoint/p", url=url, upstream_model="m")
        upstream = Upstream()
        try:
            for _ in range(2):
                answer = await upstream.embed(backend, {}, ["hello"], {})
                assert answer.embeddings == [[1.0, 0.0]]
        finally:
            await upstream.close()
    assert seen == [None, None]
