"""Every permission the chart grants, each with the code that needs it. tests/chart/test_rbac.py fails
when the rendered RBAC grants anything not listed here (or lacks anything listed), and runs the real
operator with exactly the chart's ServiceAccount to prove the list is sufficient."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    group: str  # "" is the core group
    resource: str
    verb: str


KINDS = ("vectorstores", "vectorcollections", "embeddingmodels", "externalmodelendpoints")
OWNERS = ("vectorcollections", "embeddingmodels", "externalmodelendpoints")

ENSURE = "charts/vectorops/files/scripts/ensure_objects.py: the init container applies the peering object"
# With defaultStore.create, where the store is created.
DEFAULT_STORE: dict[Grant, str] = {
    Grant("vectorops.io", "vectorstores", "create"): "ensure_objects.py applies the default VectorStore"
}

# (group, resources, verbs, why: the code that makes the call)
Rule = tuple[str, tuple[str, ...], tuple[str, ...], str]
_OPERATOR_NAMESPACED: list[Rule] = [
    (
        "vectorops.io",
        KINDS,
        ("list", "watch"),
        "kopf watches every kind (handlers/wiring.py, handlers/routes.py index)",
    ),
    (
        "vectorops.io",
        KINDS,
        ("get",),
        "adapters/kube.py get_custom_object: referenced stores, models, collections",
    ),
    (
        "vectorops.io",
        KINDS,
        ("patch",),
        "kopf adds and removes the finalizer vectorops.io/finalizer (kopfsettings.py)",
    ),
    (
        "vectorops.io",
        tuple(f"{k}/status" for k in KINDS),
        ("patch",),
        "status/patch.py via kopf: conditions, observedGeneration, status.kopf progress",
    ),
    (
        "vectorops.io",
        tuple(f"{k}/finalizers" for k in OWNERS),
        ("update",),
        "reconcilers/children.py owner_reference blockOwnerDeletion=true (OwnerReferencesPermissionEnforcement)",
    ),
    (
        "",
        ("secrets",),
        ("get",),
        "adapters/kube.py secret_value/secret_keys (reconcilers/store.py, references.py)",
    ),
    (
        "",
        ("configmaps",),
        ("get", "create", "patch", "delete"),
        "apply/prune: vectorops-routes (reconcilers/routes.py), collection bindings (reconcilers/binding.py), "
        "rule ConfigMaps (reconcilers/alerts.py)",
    ),
    ("apps", ("deployments",), ("get", "create", "patch"), "reconcilers/embeddingmodel.py: get then apply"),
    ("", ("services",), ("get", "create", "patch"), "reconcilers/embeddingmodel.py: get then apply"),
    (
        "",
        ("pods",),
        ("list",),
        "reconcilers/embeddingmodel.py _why_not_rolled_out: a stuck embedder pod's reason (status/pods.py)",
    ),
    (
        "autoscaling",
        ("horizontalpodautoscalers",),
        ("get", "create", "patch", "delete"),
        "reconcilers/children.py apply_or_prune (builders/embedder_autoscaling.py)",
    ),
    (
        "monitoring.coreos.com",
        ("podmonitors", "prometheusrules"),
        ("get", "create", "patch", "delete"),
        "reconcilers/children.py apply_or_prune (embedder_monitoring.py, reconcilers/alerts.py)",
    ),
    ("", ("events",), ("create",), "kopf posting (handlers/wiring.py kopf.info/kopf.warn)"),
]
_OPERATOR_CLUSTER: list[Rule] = [
    (
        "apiextensions.k8s.io",
        ("customresourcedefinitions",),
        ("list", "watch"),
        "kopf's resource observer (kopf/_core/reactor/observation.py)",
    ),
    (
        "kopf.dev",
        ("clusterkopfpeerings",),
        ("list", "watch", "patch"),
        "kopf peering keep-alives (VECTOROPS_PEERING, kopfsettings.py)",
    ),
    ("kopf.dev", ("clusterkopfpeerings",), ("create",), ENSURE),
]
_OPERATOR_NAMESPACED_MODE_CLUSTER: list[Rule] = [
    (
        "apiextensions.k8s.io",
        ("customresourcedefinitions",),
        ("list", "watch"),
        "kopf's resource observer (kopf/_core/reactor/observation.py)",
    ),
    (
        "",
        ("namespaces",),
        ("list", "watch"),
        "kopf's namespace observer, when it serves a list of namespaces",
    ),
]
_OPERATOR_NAMESPACED_MODE_PEERING: list[Rule] = [
    (
        "kopf.dev",
        ("kopfpeerings",),
        ("list", "watch", "patch"),
        "kopf peering per namespace (kopfsettings.py)",
    ),
    ("kopf.dev", ("kopfpeerings",), ("create",), ENSURE),
]
_GATEWAY: list[Rule] = [
    ("", ("configmaps",), ("list", "watch"), "gateway/source.py: vectorops-routes and collection bindings"),
    ("", ("secrets",), ("get", "list", "watch"), "gateway/source.py: provider keys and client keys"),
    (
        "vectorops.io",
        ("externalmodelendpoints/status",),
        ("patch",),
        "gateway/reporter.py: status.gateways.<replica>",
    ),
]


def expand(rules: list[Rule]) -> dict[Grant, str]:
    out: dict[Grant, str] = {}
    for group, resources, verbs, why in rules:
        for resource in resources:
            for verb in verbs:
                out[Grant(group, resource, verb)] = why
    return out


def operator_cluster_mode() -> dict[Grant, str]:
    """The operator's ClusterRole when it watches every namespace."""
    return expand(_OPERATOR_NAMESPACED + _OPERATOR_CLUSTER)


def operator_namespaced_mode() -> tuple[dict[Grant, str], dict[Grant, str]]:
    """(each namespace's Role, the small ClusterRole) when it watches a list of namespaces."""
    return expand(_OPERATOR_NAMESPACED + _OPERATOR_NAMESPACED_MODE_PEERING), expand(
        _OPERATOR_NAMESPACED_MODE_CLUSTER
    )


def gateway() -> dict[Grant, str]:
    """The gateway's Role in the namespace it serves."""
    return expand(_GATEWAY)


def table() -> list[tuple[str, str, str, str]]:
    """(who, apiGroup, resource, verbs: why) rows for docs/install.md."""
    rows = []
    for who, rules in (
        ("operator", _OPERATOR_NAMESPACED + _OPERATOR_CLUSTER + _OPERATOR_NAMESPACED_MODE_CLUSTER[1:]),
        ("operator (namespaced mode)", _OPERATOR_NAMESPACED_MODE_PEERING),
        ("gateway", _GATEWAY),
    ):
        for group, resources, verbs, why in rules:
            rows.append((who, group or "core", ", ".join(resources), f"{', '.join(verbs)}: {why}"))
    return rows
