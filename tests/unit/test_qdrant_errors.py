"""Every Qdrant failure becomes a condition reason with a message a human can act on."""

from __future__ import annotations

import httpx
import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vectorops.devtools.controlplane import free_port
from vectorops.operator.adapters.qdrant import ClientPool, QdrantEndpoint, classify, probe


def response(code: int, body: bytes) -> UnexpectedResponse:
    return UnexpectedResponse(code, "reason", body, httpx.Headers())


@pytest.mark.parametrize(
    ("error", "reason", "text"),
    [
        (response(401, b"{}"), "Unauthorized", "rejected the API key (401)"),
        (response(403, b"{}"), "Unauthorized", "rejected the API key (403)"),
        (
            response(400, b'{"status": {"error": "Wrong input: bad hnsw"}}'),
            "QdrantRejected",
            "Wrong input: bad hnsw",
        ),
        (response(409, b"not json"), "QdrantRejected", "(409): reason"),
        (response(503, b'{"status": {"error": "overloaded"}}'), "BackendError", "failed (503): overloaded"),
        (
            ResponseHandlingException(httpx.ConnectError("refused")),
            "BackendUnreachable",
            "is unreachable (ConnectError)",
        ),
        (
            ResponseHandlingException(httpx.ReadTimeout("slow")),
            "BackendUnreachable",
            "timed out (ReadTimeout)",
        ),
        (TimeoutError(), "BackendUnreachable", "timed out"),
        (RuntimeError("boom"), "BackendError", "RuntimeError: boom"),
    ],
)
def test_classify(error: BaseException, reason: str, text: str) -> None:
    failure = classify(error, "http://q:6333")
    assert failure.reason == reason
    assert text in failure.message
    assert "http://q:6333" in failure.message


async def test_probe_unreachable_and_local(tmp_path) -> None:
    pool = ClientPool()
    down = await probe(
        QdrantEndpoint(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2), pool, "ns/down"
    )
    await pool.close()
    assert (down.ok, down.reason) == (False, "BackendUnreachable")
    local = await probe(QdrantEndpoint(url=f"local:{tmp_path}/engine"), pool, "ns/local")
    assert local.ok and (tmp_path / "engine").is_dir()
    (tmp_path / "file").write_text("x")
    blocked = await probe(QdrantEndpoint(url=f"local:{tmp_path}/file/sub"), pool, "ns/blocked")
    assert (blocked.ok, blocked.reason) == (False, "LocalPathUnusable")
