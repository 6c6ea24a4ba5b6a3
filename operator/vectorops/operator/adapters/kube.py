"""The Kubernetes API, asynchronously (kubernetes_asyncio): reads the reconcilers depend on, server-side
apply of child objects, and discovery of what the apiserver serves. Nothing here blocks the event loop.

Secret values are read only where needed and never logged: the client library logs whole response bodies
at DEBUG, so its REST logger is held at INFO (see quiet_client_logs), and Secrets are read through our
own request path, which logs nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from vectorops.operator.api.kinds import GROUP, VERSION

SERVED_TTL_S = 300.0
Obj = dict[str, Any]


class KubeReader(Protocol):
    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """The Secret's data keys, or None when the Secret does not exist."""
        ...

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One decoded value, or None when the Secret or key does not exist."""
        ...

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        """Whether a vectorops.io object exists."""
        ...

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        """A vectorops.io object, or None when it does not exist."""
        ...


class KubeWriter(Protocol):
    async def apply(self, manifest: Obj, namespace: str) -> Obj:
        """Server-side apply with our field manager; returns the object as stored."""
        ...

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """Any object, or None when it does not exist."""
        ...

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; False when it did not exist."""
        ...

    async def served(self, api_version: str, kind: str) -> bool:
        """Whether the apiserver serves the kind (e.g. whether a CRD is installed)."""
        ...

    async def list_pods(self, namespace: str, selector: str) -> list[Obj]:
        """The namespace's pods matching a label selector (their status says why one does not start)."""
        ...


class KubeFailure(Exception):
    """The apiserver refused or could not be reached; `reason` is a condition reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _failure(status: int, method: str, path: str, body: bytes) -> KubeFailure:
    try:
        detail = str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        detail = ""
    what = f"{method} {path}"
    if status in (401, 403):
        return KubeFailure(status, "Forbidden", f"the apiserver refused {what} ({status}): {detail}")
    if status == 422:
        return KubeFailure(status, "Invalid", f"the apiserver rejected {what} as invalid: {detail}")
    if status == 409:
        return KubeFailure(status, "Conflict", f"{what} conflicted ({status}): {detail}")
    return KubeFailure(status, "ApiError", f"{what} failed ({status}): {detail}")


def quiet_client_logs() -> None:
    # kubernetes_asyncio logs every response body at DEBUG, Secrets included: never let it.
    logging.getLogger("kubernetes_asyncio.client.rest").setLevel(logging.INFO)


async def load_api_client(max_connections: int = 32) -> k8s.ApiClient:
    """In-cluster credentials when running in a pod, else KUBECONFIG / ~/.kube/config."""
    quiet_client_logs()
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        await k8s_config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    configuration.connection_pool_maxsize = max_connections
    return k8s.ApiClient(configuration=configuration)


@dataclass(frozen=True)
class _Kind:
    plural: str
    namespaced: bool


def _api_prefix(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


class KubeClient:
    """KubeReader and KubeWriter over one kubernetes_asyncio ApiClient (one connection pool)."""

    def __init__(self, api: k8s.ApiClient, field_manager: str) -> None:
        self._api = api
        self._field_manager = field_manager
        # api_version -> (kinds it serves, when asked); absent group-versions are remembered too.
        self._discovery: dict[str, tuple[dict[str, _Kind], float]] = {}

    async def _request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """One call; returns (status, body) for 2xx and 404, raises KubeFailure for the rest."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,  # no body logging, and 404 is an answer, not an exception
                _return_http_data_only=True,
            )
            try:
                data = await response.read()
            finally:
                response.release()
        except (TimeoutError, aiohttp.ClientError) as e:
            message = f"{method} {path}: the apiserver is unreachable ({type(e).__name__})"
            raise KubeFailure(0, "ApiserverUnreachable", message) from e
        if response.status == 404 or 200 <= response.status < 300:
            return response.status, data
        raise _failure(response.status, method, path, data)

    async def _get_json(self, path: str) -> Obj | None:
        status, data = await self._request("GET", path)
        return None if status == 404 else dict(json.loads(data))

    # -- KubeReader -------------------------------------------------------------------------------
    async def _secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = await self._get_json(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        return None if secret is None else dict(secret.get("data") or {})

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        data = await self._secret_data(namespace, name)
        return None if data is None else frozenset(data)

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        data = await self._secret_data(namespace, name)
        if data is None or key not in data:
            return None
        return base64.b64decode(data[key]).decode()

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return await self.get_custom_object(plural, namespace, name) is not None

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        return await self._get_json(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}")

    # -- KubeWriter -------------------------------------------------------------------------------
    async def _kinds(self, api_version: str) -> dict[str, _Kind]:
        # Discovery of one group-version, remembered for a while: a CRD installed later is noticed
        # within SERVED_TTL_S, and an absent kind costs one request per TTL, not one per reconcile.
        known = self._discovery.get(api_version)
        if known is not None and time.monotonic() - known[1] < SERVED_TTL_S:
            return known[0]
        doc = await self._get_json(_api_prefix(api_version))
        kinds = {
            r["kind"]: _Kind(r["name"], bool(r.get("namespaced")))
            for r in (doc or {}).get("resources", [])
            if "/" not in r["name"]  # subresources (deployments/status) are not kinds of their own
        }
        self._discovery[api_version] = (kinds, time.monotonic())
        return kinds

    async def _path(self, api_version: str, kind: str, namespace: str, name: str) -> str:
        found = (await self._kinds(api_version)).get(kind)
        if found is None:
            raise KubeFailure(404, "KindNotServed", f"the apiserver does not serve {kind} ({api_version})")
        scope = f"/namespaces/{namespace}" if found.namespaced else ""
        return f"{_api_prefix(api_version)}{scope}/{found.plural}/{name}"

    async def apply(self, manifest: Obj, namespace: str) -> Obj:
        meta = manifest["metadata"]
        path = await self._path(manifest["apiVersion"], manifest["kind"], namespace, meta["name"])
        query = [("fieldManager", self._field_manager), ("force", "true")]
        _, data = await self._request(
            "PATCH", path, body=manifest, query=query, content_type="application/apply-patch+yaml"
        )
        return dict(json.loads(data))

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        return await self._get_json(await self._path(api_version, kind, namespace, name))

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        status, _ = await self._request("DELETE", await self._path(api_version, kind, namespace, name))
        return status != 404

    async def served(self, api_version: str, kind: str) -> bool:
        return kind in await self._kinds(api_version)

    async def list_pods(self, namespace: str, selector: str) -> list[Obj]:
        status, data = await self._request(
            "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", selector)]
        )
        return [] if status == 404 else list(json.loads(data).get("items") or [])

    async def proxy_get(self, namespace: str, service: str, port: str, path: str) -> tuple[int, bytes]:
        """GET through the apiserver's service proxy (needs `get` on services/proxy)."""
        return await self._request(
            "GET", f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"
        )
