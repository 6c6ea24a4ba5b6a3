"""Cache keys cover everything that changes a vector: the weights actually loaded (a digest of the
model's files, not its name or revision label) and every setting that changes what comes out."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import RedisServer
from vectorops.embedder.app import create_app
from vectorops.embedder.backends.base import Encoded
from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.backends.identity import directory_digest
from vectorops.embedder.cache import EmbeddingCache, cache_namespace
from vectorops.embedder.metrics import Metrics
from vectorops.embedder.settings import EmbedderSettings

BASE = EmbedderSettings(model="/models/minilm", revision="local")


def namespace(identity: str = "sha256:aaa", max_seq_length: int = 256, **changes: object) -> str:
    return cache_namespace(BASE.model_copy(update=changes), identity, max_seq_length)


@pytest.mark.parametrize(
    "changes",
    [
        {"pooling": "cls"},
        {"pooling": "mean"},  # an explicit override is not assumed to equal the model's own pooling
        {"precision": "fp16"},
        {"precision": "bf16"},
        {"query_prefix": "query: "},
        {"passage_prefix": "passage: "},
        {"dimensions": 128},
        {"normalize": False},
    ],
    ids=str,
)
def test_every_setting_that_changes_a_vector_changes_the_namespace(changes: dict[str, object]) -> None:
    assert namespace(**changes) != namespace()


def test_the_weights_and_the_sequence_length_change_the_namespace() -> None:
    assert namespace(identity="sha256:bbb") != namespace()
    assert namespace(max_seq_length=128) != namespace()


def test_the_revision_label_alone_does_not() -> None:
    # `local` says nothing about the files; the digest does, so equal files share their entries.
    assert namespace(revision="main") == namespace()


def test_keys_follow_the_namespace() -> None:
    metrics = Metrics()
    a = EmbeddingCache(namespace(), metrics)
    b = EmbeddingCache(namespace(identity="sha256:bbb"), metrics)
    assert a.key("hello") != b.key("hello")
    assert a.key("hello") == EmbeddingCache(namespace(), metrics).key("hello")


def model_dir(root: Path, weights: bytes) -> Path:
    (root / "1_Pooling").mkdir(parents=True)
    (root / "config.json").write_text('{"hidden_size": 8}')
    (root / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (root / "model.safetensors").write_bytes(weights)
    return root


def test_directories_that_differ_only_in_weights_have_different_digests(tmp_path: Path) -> None:
    one = model_dir(tmp_path / "one", b"\x00" * 64)
    same = model_dir(tmp_path / "same", b"\x00" * 64)
    other = model_dir(tmp_path / "other", b"\x00" * 63 + b"\x01")
    assert directory_digest(one) == directory_digest(same)
    assert directory_digest(one) != directory_digest(other)
    assert directory_digest(one).startswith("sha256:")


def test_names_count_and_tool_metadata_does_not(tmp_path: Path) -> None:
    one = model_dir(tmp_path / "one", b"w")
    before = directory_digest(one)
    # `hf download --local-dir` keeps timestamps under .cache; a Kubernetes volume links ..data.
    (one / ".cache" / "huggingface").mkdir(parents=True)
    (one / ".cache" / "huggingface" / "model.safetensors.metadata").write_text("1700000000.0")
    assert directory_digest(one) == before
    (one / "1_Pooling" / "config.json").rename(one / "1_Pooling" / "config.json.bak")
    assert directory_digest(one) != before


class Replaced(FakeBackend):
    """Other weights under the same name and revision label: other vectors."""

    def encode(self, texts: list[str]) -> Encoded:
        encoded = super().encode(texts)
        return encoded._replace(vectors=-encoded.vectors)


async def embed_once(settings: EmbedderSettings, backend: FakeBackend, text: str) -> tuple[list[float], dict]:
    client = TestClient(TestServer(create_app(settings, lambda _: backend)))
    await client.start_server()
    try:
        for _ in range(500):
            if (await client.get("/readyz")).status == 200:
                break
        resp = await client.post("/v1/embeddings", json={"model": "minilm", "input": text})
        assert resp.status == 200
        models = await (await client.get("/v1/models")).json()
        return (await resp.json())["data"][0]["embedding"], models["data"][0]
    finally:
        await client.close()


async def test_a_replaced_model_does_not_serve_the_old_vectors_from_a_shared_redis(
    redis_server: RedisServer,
) -> None:
    settings = EmbedderSettings(
        model="/models/minilm", revision="local", served_name="minilm", redis_url=redis_server.url
    )
    old, new = FakeBackend(), Replaced()
    old.identity, new.identity = "sha256:old-weights", "sha256:new-weights"
    first, _ = await embed_once(settings, old, "a cached text")
    again, model = await embed_once(settings, new, "a cached text")
    assert np.allclose(again, new.encode(["a cached text"]).vectors[0])
    assert not np.allclose(again, first)
    assert model["revision_digest"] == "sha256:new-weights" and model["dimension"] == 8


def test_a_copied_directory_has_the_same_digest(tmp_path: Path) -> None:
    one = model_dir(tmp_path / "one", b"weights")
    shutil.copytree(one, tmp_path / "copy")
    assert directory_digest(tmp_path / "copy") == directory_digest(one)
