"""Reading objects the reconcilers depend on. Secret values are read only where needed and never logged."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any, Protocol

import kubernetes
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from vectorops.operator.api.kinds import GROUP, VERSION

SERVED_TTL_S = 300.0


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

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A vectorops.io object, or None when it does not exist."""
        ...


def load_api_client() -> ApiClient:
    """In-cluster credentials when running in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        # Read KUBECONFIG now: the client's own default was fixed when it was imported.
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    return ApiClient()


class KubernetesReader:
    """KubeReader over the official client; its blocking calls run in worker threads."""

    def __init__(self, api: ApiClient) -> None:
        self._core = CoreV1Api(api)
        self._custom = CustomObjectsApi(api)

    async def _read_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        data: dict[str, str] = {k: str(v) for k, v in (secret.data or {}).items()}
        for key, value in (secret.string_data or {}).items():
            data[key] = base64.b64encode(value.encode()).decode()
        return data

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        data = await self._read_secret_data(namespace, name)
        return None if data is None else frozenset(data)

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        data = await self._read_secret_data(namespace, name)
        if data is None or key not in data:
            return None
        return base64.b64decode(data[key]).decode()

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return await self.get_custom_object(plural, namespace, name) is not None

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj if isinstance(obj, dict) else None


class KubeWriter(Protocol):
    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        """Server-side apply with our field manager; returns the object as stored."""
        ...

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Any object, or None when it does not exist."""
        ...

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; False when it did not exist."""
        ...

    async def served(self, api_version: str, kind: str) -> bool:
        """Whether the apiserver serves the kind (e.g. whether a CRD is installed)."""
        ...


class KubernetesWriter:
    """Server-side apply through the client's dynamic API (any kind, one code path)."""

    def __init__(self, api: ApiClient, field_manager: str) -> None:
        from kubernetes.dynamic import DynamicClient

        self._dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
        self._field_manager = field_manager
        self._served: dict[tuple[str, str], tuple[bool, float]] = {}

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        result = await asyncio.to_thread(
            resource.server_side_apply,
            body=manifest,
            name=manifest["metadata"]["name"],
            namespace=namespace,
            field_manager=self._field_manager,
            force_conflicts=True,
        )
        return dict(result.to_dict())

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(api_version, kind)
        try:
            result = await asyncio.to_thread(resource.get, name=name, namespace=namespace)
        except NotFoundError:
            return None
        return dict(result.to_dict())

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(api_version, kind)
        try:
            await asyncio.to_thread(resource.delete, name=name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    async def served(self, api_version: str, kind: str) -> bool:
        # The dynamic client answers an unknown kind by re-reading all of discovery, so the answer is
        # remembered for a while: a CRD installed later is noticed within SERVED_TTL_S.
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        known = self._served.get((api_version, kind))
        if known is not None and time.monotonic() - known[1] < SERVED_TTL_S:
            return known[0]
        try:
            await asyncio.to_thread(self._resource, api_version, kind)
            found = True
        except ResourceNotFoundError:
            found = False
        self._served[(api_version, kind)] = (found, time.monotonic())
        return found
