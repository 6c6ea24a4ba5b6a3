"""From a VectorStore (and its Secrets) to a Qdrant endpoint."""

from __future__ import annotations

from pathlib import Path

from vectorops.datastore.conninfo import CREDENTIAL_KEYS, MissingCredential, conninfo
from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.adapters.postgres import PostgresPools, PostgresTarget
from vectorops.operator.adapters.qdrant import QdrantEndpoint
from vectorops.operator.api.conditions import Reason
from vectorops.operator.api.kinds import VECTOR_STORE
from vectorops.operator.api.vectorstore import (
    LOCAL_PREFIX,
    PostgresConnection,
    RedisConnection,
    VectorStoreSpec,
)
from vectorops.operator.builders.postgres_access import PostgresAccess, postgres_access
from vectorops.operator.status.readiness import Problem


class StoreProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def store_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


async def _secret(kube: KubeReader, namespace: str, name: str, key: str, field: str) -> str:
    value = await kube.secret_value(namespace, name, key)
    if value is None:
        reason = (
            Reason.SECRET_NOT_FOUND
            if await kube.secret_keys(namespace, name) is None
            else Reason.SECRET_KEY_NOT_FOUND
        )
        raise StoreProblem(
            Problem(reason.value, f"Secret {namespace}/{name} key {key!r} ({field}) not found")
        )
    return value


def local_url(url: str, namespace: str, root: Path | None) -> str:
    """local:<folder> -> local:<root>/<namespace>/<folder>: a namespace's embedded engines stay in its own
    folder of the operator's filesystem, and only where the operator was given a root."""
    if root is None:
        raise StoreProblem(
            Problem(
                Reason.LOCAL_STORES_DISABLED.value,
                f"{url} uses qdrant-client's embedded engine, which this operator allows only in development "
                "(VECTOROPS_LOCAL_STORE_ROOT is not set): point spec.qdrant.url at a Qdrant server",
            )
        )
    folder = url[len(LOCAL_PREFIX) :]
    if folder.startswith("/") or ".." in Path(folder).parts:  # CEL refuses these; never trust one check
        raise StoreProblem(
            Problem(Reason.INVALID_SPEC.value, f"{url}: the folder must be relative, without '..'")
        )
    return f"{LOCAL_PREFIX}{root.resolve() / namespace / folder}"


async def endpoint_for(
    spec: VectorStoreSpec, namespace: str, kube: KubeReader, local_root: Path | None
) -> QdrantEndpoint:
    conn = spec.qdrant
    api_key = ca_pem = None
    if conn.api_key_secret_ref is not None:
        ref = conn.api_key_secret_ref
        api_key = await _secret(kube, namespace, ref.name, ref.key, "spec.qdrant.apiKeySecretRef")
    if conn.tls is not None and conn.tls.ca_secret_ref is not None:
        ref = conn.tls.ca_secret_ref
        ca_pem = await _secret(kube, namespace, ref.name, ref.key, "spec.qdrant.tls.caSecretRef")
    url = local_url(conn.url, namespace, local_root) if conn.url.startswith(LOCAL_PREFIX) else conn.url
    return QdrantEndpoint(
        url=url,
        api_key=api_key,
        timeout_seconds=conn.timeout_seconds,
        verify=not (conn.tls is not None and conn.tls.insecure_skip_verify),
        ca_pem=ca_pem,
        prefer_grpc=conn.prefer_grpc,
        grpc_port=conn.grpc_port,
    )


async def postgres_target(
    spec: PostgresConnection, namespace: str, kube: KubeReader, pools: PostgresPools
) -> tuple[PostgresAccess, PostgresTarget]:
    """The store's PostgreSQL settings and connection string (from its Secrets), or StoreProblem."""
    access = postgres_access(spec)
    values: dict[tuple[str, str], str] = {}
    for secret, key, field in access.secret_keys():
        values[(secret, key)] = await _secret(kube, namespace, secret, key, field)
    if access.credentials_secret is not None:
        for key in CREDENTIAL_KEYS:
            found = await kube.secret_value(namespace, access.credentials_secret, key)
            if found is not None:
                values[(access.credentials_secret, key)] = found
    ca_file = pools.ca_file(values[(access.ca.secret, access.ca.key)]) if access.ca is not None else None
    try:
        info = conninfo(access, values, ca_file, application_name="vectorops-operator")
    except MissingCredential as e:
        raise StoreProblem(Problem(Reason.SECRET_KEY_NOT_FOUND.value, f"spec.postgres: {e}")) from None
    except Exception as e:  # a DSN libpq cannot parse; its text may hold the password, so never echo it
        raise StoreProblem(
            Problem(
                Reason.INVALID_SPEC.value,
                f"spec.postgres: the connection string in the Secret is not valid libpq syntax "
                f"({type(e).__name__})",
            )
        ) from None
    # Waits end soon after one connection attempt would (connect_timeout): a pass never hangs on it.
    target = PostgresTarget(
        info, access.pool_min, access.pool_max, wait_seconds=access.connect_timeout_s + 1.0
    )
    return access, target


async def redis_url(spec: RedisConnection, namespace: str, kube: KubeReader) -> str:
    ref = spec.url_secret_ref
    return await _secret(kube, namespace, ref.name, ref.key, "spec.redis.urlSecretRef")


async def load_store(
    namespace: str, name: str, kube: KubeReader, local_root: Path | None
) -> tuple[VectorStoreSpec, QdrantEndpoint]:
    """The named store and its endpoint, or StoreProblem saying what is missing."""
    if not name:
        raise StoreProblem(
            Problem(
                Reason.STORE_NOT_FOUND.value, "spec.storeRef is not set and the operator has no default store"
            )
        )
    obj = await kube.get_custom_object(VECTOR_STORE.plural, namespace, name)
    if obj is None:
        raise StoreProblem(Problem(Reason.STORE_NOT_FOUND.value, f"VectorStore {namespace}/{name} not found"))
    spec = VectorStoreSpec.model_validate(obj.get("spec") or {})
    return spec, await endpoint_for(spec, namespace, kube, local_root)
