"""Compiling the route table: one route per model name, backends by priority, and refusals that keep
vectors compatible and the table unambiguous."""

from __future__ import annotations

from typing import Any

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.builders.routes import compile_routes, embeddingmodel_offer, endpoint_offer
from vectorops.routing.table import Capability, RouteTable


def endpoint(name: str, probed: dict[str, int] | None = None, **spec: Any):
    fields = {"url": f"https://{name}.example/v1", "models": [{"name": "e5", "dimensions": 1024}], **spec}
    return endpoint_offer(name, ExternalModelEndpointSpec.model_validate(fields), probed or {})


def model(name: str, dimension: int | None = 384, **spec: Any):
    fields = {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}, **spec}
    return embeddingmodel_offer(name, "ml", EmbeddingModelSpec.model_validate(fields), dimension)


def test_an_in_cluster_model_is_preferred_and_backed_up_by_an_endpoint_serving_the_same_vectors() -> None:
    backup = endpoint(
        "hosted",
        models=[{"name": "minilm", "identity": "sentence-transformers/all-MiniLM-L6-v2", "dimensions": 384}],
        auth={"type": "bearer", "secretRef": {"name": "key", "key": "token"}},
    )
    table, verdicts = compile_routes("ml", [backup, model("minilm")])
    assert table is not None
    route = table.route("minilm")
    assert route is not None and route.capability is Capability.EMBEDDINGS
    assert [b.source for b in route.backends] == ["EmbeddingModel/minilm", "ExternalModelEndpoint/hosted"]
    assert route.backends[0].url == "http://minilm-embedder.ml.svc:80/v1"
    credential = route.backends[1].credential
    assert credential is not None and (credential.secret, credential.key, credential.bearer) == (
        "key",
        "token",
        True,
    )
    assert all(v.ok for v in verdicts.values())


def test_same_priority_needs_one_failover_group() -> None:
    a = endpoint("a", failover={"group": "e5", "priority": 10, "weight": 3})
    b = endpoint("b", failover={"group": "e5", "priority": 10, "weight": 1})
    table, verdicts = compile_routes("ml", [a, b])
    assert table is not None and [x.weight for x in table.route("e5").backends] == [3, 1]  # type: ignore[union-attr]
    c = endpoint("c", failover={"priority": 10})  # no group
    table, verdicts = compile_routes("ml", [a, b, c])
    assert [x.source for x in table.route("e5").backends] == [  # type: ignore[union-attr]
        "ExternalModelEndpoint/a",
        "ExternalModelEndpoint/b",
    ]
    ((reason, message),) = verdicts["ExternalModelEndpoint/c"].refused
    assert reason == "RouteConflict" and "already served at priority 10 by ExternalModelEndpoint/a" in message


def test_backends_whose_vectors_differ_are_refused_not_mixed() -> None:
    primary = endpoint("a", failover={"group": "g", "priority": 0})
    other_model = endpoint(
        "b", models=[{"name": "e5", "identity": "BAAI/bge-large-en-v1.5", "dimensions": 1024}]
    )
    other_size = endpoint("c", models=[{"name": "e5", "dimensions": 768}], failover={"priority": 200})
    raw = endpoint(
        "d", models=[{"name": "e5", "dimensions": 1024, "normalized": False}], failover={"priority": 300}
    )
    table, verdicts = compile_routes("ml", [primary, other_model, other_size, raw])
    assert [b.source for b in table.route("e5").backends] == ["ExternalModelEndpoint/a"]  # type: ignore[union-attr]
    for source, fragment in [
        ("ExternalModelEndpoint/b", "serves BAAI/bge-large-en-v1.5 (1024 dimensions, normalised)"),
        ("ExternalModelEndpoint/c", "(768 dimensions"),
        ("ExternalModelEndpoint/d", "unnormalised"),
    ]:
        ((reason, message),) = verdicts[source].refused
        assert reason == "IncompatibleVectors" and fragment in message, message


def test_backends_whose_revisions_differ_are_refused() -> None:
    pinned = model(
        "minilm",
        source={"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2", "revision": "c9745ed"}},
    )
    other = endpoint(
        "hosted",
        models=[
            {
                "name": "minilm",
                "identity": "sentence-transformers/all-MiniLM-L6-v2",
                "dimensions": 384,
                "revision": "8b3219a",
            }
        ],
    )
    table, verdicts = compile_routes("ml", [pinned, other])
    assert [b.source for b in table.route("minilm").backends] == ["EmbeddingModel/minilm"]  # type: ignore[union-attr]
    assert table.route("minilm").backends[0].identity.revision == "c9745ed"  # type: ignore[union-attr]
    ((reason, message),) = verdicts["ExternalModelEndpoint/hosted"].refused
    assert reason == "IncompatibleVectors" and "revision c9745ed" in message and "revision 8b3219a" in message


def test_a_revision_declared_by_one_backend_only_is_no_conflict() -> None:
    declared = endpoint("a", models=[{"name": "e5", "dimensions": 1024, "revision": "4f1e2d0"}])
    undeclared = endpoint("b", failover={"priority": 200})
    other = endpoint(
        "c", models=[{"name": "e5", "dimensions": 1024, "revision": "77aa001"}], failover={"priority": 300}
    )
    table, verdicts = compile_routes("ml", [declared, undeclared, other])
    route = table.route("e5")  # type: ignore[union-attr]
    assert [b.source for b in route.backends] == ["ExternalModelEndpoint/a", "ExternalModelEndpoint/b"]  # type: ignore[union-attr]
    assert [b.identity.revision for b in route.backends] == ["4f1e2d0", None]  # type: ignore[union-attr]
    # Every backend already accepted is compared, not only the first: `c` disagrees with `a`.
    assert verdicts["ExternalModelEndpoint/c"].refused[0][0] == "IncompatibleVectors"
    # Without a declared revision on the first backend, the later one's is compatible too.
    table, verdicts = compile_routes("ml", [endpoint("a"), other])
    assert all(v.ok for v in verdicts.values())


def test_an_unknown_dimension_keeps_a_model_out_until_probed() -> None:
    undeclared = endpoint("a", models=[{"name": "e5"}])
    table, verdicts = compile_routes("ml", [undeclared, model("minilm", dimension=None)])
    assert table is not None and table.routes == ()
    assert verdicts["ExternalModelEndpoint/a"].refused[0][0] == "DimensionUnknown"
    table, verdicts = compile_routes("ml", [endpoint("a", probed={"e5": 1024}, models=[{"name": "e5"}])])
    assert table.route("e5").backends[0].identity.dimension == 1024  # type: ignore[union-attr]


def test_a_chat_model_and_an_embedding_model_cannot_share_a_name() -> None:
    chat = endpoint("chat", models=[{"name": "e5", "capability": "chat"}], failover={"priority": 150})
    table, verdicts = compile_routes("ml", [endpoint("emb"), chat])
    assert verdicts["ExternalModelEndpoint/chat"].refused[0][0] == "RouteConflict"
    assert table.route("e5").capability is Capability.EMBEDDINGS  # type: ignore[union-attr]


def test_compilation_is_deterministic_and_the_table_round_trips() -> None:
    offers = [endpoint("a"), model("minilm"), endpoint("z", models=[{"name": "gpt", "capability": "chat"}])]
    first, _ = compile_routes("ml", offers)
    second, _ = compile_routes("ml", list(reversed(offers)))
    assert first is not None and second is not None
    assert first.to_json() == second.to_json() and first.version() == second.version()
    assert RouteTable.model_validate_json(first.to_json()) == first


def test_a_table_too_large_for_a_configmap_is_not_written() -> None:
    many = [
        endpoint(f"e{i}", models=[{"name": f"m{j}-{i}", "dimensions": 8} for j in range(64)])
        for i in range(40)
    ]
    table, verdicts = compile_routes("ml", many)
    assert table is None
    assert all(v.refused[0][0] == "RouteTableTooLarge" for v in verdicts.values())


def test_a_models_default_revision_is_not_declared_and_its_settings_are_in_the_vector_digest() -> None:
    default = model("minilm")
    assert default.offers[0].backend.identity.revision is None  # type: ignore[union-attr]
    pinned_endpoint = endpoint(
        "hosted",
        models=[
            {
                "name": "minilm",
                "dimensions": 384,
                "identity": "sentence-transformers/all-MiniLM-L6-v2",
                "revision": "c9745ed",
            }
        ],
    )
    _, verdicts = compile_routes("ml", [default, pinned_endpoint])
    assert all(v.ok for v in verdicts.values())  # `main` (unwritten) does not contradict a pinned commit
    digests = {
        model("minilm").offers[0].backend.vector_digest,
        model("minilm", pooling="cls").offers[0].backend.vector_digest,
        model("minilm", maxSeqLength=128).offers[0].backend.vector_digest,
    }
    assert len(digests) == 3 and None not in digests
    assert '"revision":null' not in compile_routes("ml", [default])[0].to_json()  # None fields left out
