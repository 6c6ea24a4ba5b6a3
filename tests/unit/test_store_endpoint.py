"""Where a VectorStore points, and that no credential reaches a message or a repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client.http.exceptions import ResponseHandlingException

from vectorops.operator.adapters.qdrant import ClientPool, QdrantEndpoint, QdrantFailure, display_url
from vectorops.operator.reconcilers.store import StoreProblem, local_url


def test_local_stores_stay_in_their_namespace_folder(tmp_path: Path) -> None:
    assert local_url("local:dev/q", "team-a", tmp_path) == f"local:{tmp_path.resolve()}/team-a/dev/q"


@pytest.mark.parametrize("url", ["local:/etc", "local:../team-b/q", "local:a/../../b"])
def test_local_paths_that_escape_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(StoreProblem) as e:
        local_url(url, "team-a", tmp_path)
    assert e.value.problem.reason == "InvalidSpec"


def test_local_stores_need_a_root() -> None:
    with pytest.raises(StoreProblem) as e:
        local_url("local:dev", "team-a", None)
    assert e.value.problem.reason == "LocalStoresDisabled"
    assert "VECTOROPS_LOCAL_STORE_ROOT" in e.value.problem.message


def test_credentials_never_reach_messages_or_reprs() -> None:
    assert display_url("https://user:s3cret@q.example:6333/x") == "https://q.example:6333/x"
    assert display_url("http://q:6333") == "http://q:6333"
    endpoint = QdrantEndpoint(url="https://user:s3cret@q:6333", api_key="k3y-value", ca_pem="PEM-BODY")
    assert "s3cret" not in endpoint.where
    text = repr(endpoint)
    assert "k3y-value" not in text and "PEM-BODY" not in text


async def test_clients_of_stores_nobody_asks_for_are_closed() -> None:
    pool = ClientPool(idle_seconds=0.0)
    first = await pool.get("ns/a", QdrantEndpoint(url="https://a:6333"))
    await pool.get("ns/b", QdrantEndpoint(url="http://b:6333"))  # a idle past 0 s: closed
    assert pool.cached("ns/a") is None and len(pool) == 1
    with pytest.raises(ResponseHandlingException, match="client has been closed"):
        await first.get_collections()
    await pool.close()


async def test_a_ca_that_is_not_pem_is_reported() -> None:
    pool = ClientPool()
    with pytest.raises(QdrantFailure) as e:
        await pool.get("ns/a", QdrantEndpoint(url="https://a:6333", ca_pem="not a certificate"))
    assert e.value.reason == "InvalidCA"
    await pool.close()
