"""Through our gateway, the official openai client gets the same vectors from our embedder (a real
process with the real MiniLM) and from Infinity (a real third-party server, playing a hosted provider),
and a dead primary fails over to the provider without the client noticing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import numpy as np
import openai
import pytest
from aiohttp.test_utils import TestServer

from tests.processes import embedder_process
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.peers import InfinityServer, PeerUnavailable, ensure_infinity_venv, local_minilm_dir
from vectorops.gateway.app import create_app
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Snapshot
from vectorops.gateway.source import StaticSource
from vectorops.routing.table import Backend, Capability, Policy, Route, RouteTable, VectorIdentity

TEXTS = ["The quick brown fox.", "Vectors for search", "Grüße aus Köln", "日本語のテキスト", "x " * 400]
IDENTITY = VectorIdentity(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384, normalized=True)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(our embedder's URL, Infinity's base URL), both serving the MiniLM weights on loopback."""
    try:
        ensure_infinity_venv()
    except PeerUnavailable as e:
        pytest.skip(f"Infinity's virtualenv cannot be created (no package index reachable): {e}")
    model = local_minilm_dir()
    infinity = InfinityServer(model, served_names=("minilm-up",), workdir=tmp_path_factory.mktemp("infinity"))
    infinity.launch()  # starts while our embedder loads
    try:
        log = tmp_path_factory.mktemp("embedder") / "embedder.log"
        with embedder_process(str(model), "minilm", "127.0.0.1", log) as embedder:
            yield embedder, infinity.wait_ready()
    finally:
        infinity.stop()


def _route(model: str, *backends: Backend) -> Route:
    return Route(model=model, capability=Capability.EMBEDDINGS, backends=backends)


@pytest.fixture
async def gateway(peers: tuple[str, str]) -> AsyncIterator[str]:
    embedder, infinity = peers
    ours = Backend(
        source="EmbeddingModel/minilm", url=f"{embedder}/v1", upstream_model="minilm", identity=IDENTITY
    )
    hosted = Backend(
        source="ExternalModelEndpoint/infinity",
        url=infinity,
        upstream_model="minilm-up",
        priority=100,
        identity=IDENTITY,
    )
    dead = ours.model_copy(
        update={
            "url": f"http://127.0.0.1:{free_port()}/v1",
            "policy": Policy(max_attempts=2, initial_backoff_s=0.0, max_backoff_s=0.01),
        }
    )
    table = RouteTable(
        namespace="ml",
        routes=(_route("minilm", ours), _route("minilm-hosted", hosted), _route("minilm-ha", dead, hosted)),
    )
    # No cache: the routes share one identity, and each must be asked for its own vectors.
    settings = GatewaySettings(namespace="ml", auth="none", cache_lru_entries=0)
    app = create_app(settings, StaticSource(Snapshot(table)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/v1"))
    await server.close()


async def _vectors(client: openai.AsyncOpenAI, model: str) -> np.ndarray:
    result = await client.embeddings.create(model=model, input=TEXTS)
    assert result.model == model
    return np.array([d.embedding for d in result.data])


async def test_our_embedder_and_infinity_give_the_same_vectors_through_the_gateway(gateway: str) -> None:
    async with openai.AsyncOpenAI(base_url=gateway, api_key="-", max_retries=0, timeout=120) as client:
        ours = await _vectors(client, "minilm")
        theirs = await _vectors(client, "minilm-hosted")
        failed_over = await _vectors(client, "minilm-ha")  # its primary is dead: served by Infinity
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    cosines = np.sum(ours * theirs, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(failed_over, theirs, atol=1e-6)
