"""Where snapshots come from: the namespace's route ConfigMap and Secrets, watched through the apiserver
(changes are served within about a second, without a restart, and requests in flight keep the snapshot
they started with), or a fixed snapshot (tests).

Collection bindings (ConfigMaps labelled vectorops.io/collection-binding=true, one per VectorCollection)
are watched too; one that cannot be read is logged by name, counted and skipped.

Only what is needed is kept in memory: the values of Secrets the table and the bindings reference
(provider keys, Qdrant keys and CAs, PostgreSQL credentials) and of Secrets labelled
vectorops.io/gateway-key=true (client API keys). A table that cannot be read is logged and counted, and
the last good one keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.routing.collections import BINDING_KEY, BINDING_LABEL, CollectionBinding
from vectorops.routing.report import ENDPOINT_RESOURCE
from vectorops.routing.table import ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

log = logging.getLogger("vectorops.gateway")
KEY_LABEL = "vectorops.io/gateway-key"


class SnapshotSource(Protocol):
    def current(self) -> Snapshot | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticSource:
    """A fixed snapshot, replaceable by the test that owns it."""

    def __init__(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot

    def current(self) -> Snapshot | None:
        return self.snapshot

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def parse_grant(name: str, data: Mapping[str, str]) -> tuple[str, Grant] | None:
    """A client key from its Secret's (decoded) data: key, role, models, requestsPerMinute,
    tokensPerMinute. None when the Secret holds no key or an unknown role (logged, by name only)."""
    key = (data.get("key") or "").strip()
    if not key:
        log.warning("API key Secret %s has no `key`: ignored", name)
        return None
    try:
        role = Role((data.get("role") or "user").strip())
    except ValueError:
        log.warning("API key Secret %s has an unknown role: ignored (admin, user or readonly)", name)
        return None
    listed = [m.strip() for m in (data.get("models") or "*").split(",") if m.strip()]
    models = None if "*" in listed else frozenset(listed)

    def limit(field: str) -> int | None:
        raw = (data.get(field) or "").strip()
        return int(raw) if raw.isdigit() and int(raw) > 0 else None

    return key, Grant(name, role, models, limit("requestsPerMinute"), limit("tokensPerMinute"))


def parse_binding(configmap: str, raw: str | None, namespace: str) -> CollectionBinding | None:
    """A collection binding from its ConfigMap's data; None when it is unreadable or of another
    namespace (logged by the ConfigMap's name; a binding holds no secret value)."""
    try:
        binding = CollectionBinding.model_validate_json(raw or "")
    except ValidationError as e:
        log.error(
            "collection binding %s/%s is unreadable (skipped): %s", namespace, configmap, e.errors()[0]["msg"]
        )
        return None
    if binding.namespace != namespace:
        log.error(
            "collection binding %s of namespace %s found in %s: skipped",
            configmap,
            binding.namespace,
            namespace,
        )
        return None
    return binding


def binding_secrets(bindings: Iterable[CollectionBinding]) -> set[str]:
    """The Secrets the bindings name (Qdrant key and CA, PostgreSQL DSN, credentials and CA)."""
    names: set[str] = set()
    for b in bindings:
        refs = [b.qdrant.api_key, b.qdrant.ca]
        if b.postgres is not None:
            refs += [b.postgres.dsn, b.postgres.ca]
            if b.postgres.credentials_secret:
                names.add(b.postgres.credentials_secret)
        names |= {r.secret for r in refs if r is not None}
    return names


def _decode(secret: Any) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()}


REPORT_TIMEOUT_SECONDS = 5.0  # a status write never holds the reporter (or a shutdown) longer


class KubeSource:
    """Watches the route ConfigMap and the namespace's Secrets; rebuilds the snapshot on every change."""

    def __init__(
        self, namespace: str, metrics: GatewayMetrics, on_change: Callable[[], None] | None = None
    ) -> None:
        self.namespace, self.metrics, self.on_change = namespace, metrics, on_change
        self._snapshot: Snapshot | None = None
        self._table: RouteTable | None = None
        self._secrets: dict[str, dict[str, str]] = {}  # only those the table or the key label name
        self._keys: dict[str, dict[str, str]] = {}
        self._bindings: dict[str, CollectionBinding] = {}  # by ConfigMap name
        self._api: k8s.ApiClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._core: k8s.CoreV1Api | None = None

    def current(self) -> Snapshot | None:
        return self._snapshot

    async def start(self) -> None:
        logging.getLogger("kubernetes_asyncio.client.rest").setLevel(logging.INFO)  # it logs bodies at DEBUG
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
            )
        self._api = k8s.ApiClient(configuration=configuration)
        core = self._core = k8s.CoreV1Api(self._api)
        self._tasks = [
            asyncio.create_task(
                self._follow(
                    core.list_namespaced_config_map,
                    {"field_selector": f"metadata.name={ROUTES_CONFIGMAP}"},
                    self._on_configmap,
                ),
                name="watch-routes",
            ),
            asyncio.create_task(
                self._follow(
                    core.list_namespaced_secret, {"label_selector": f"{KEY_LABEL}=true"}, self._on_key
                ),
                name="watch-keys",
            ),
            asyncio.create_task(
                self._follow(core.list_namespaced_secret, {}, self._on_secret), name="watch-secrets"
            ),
            asyncio.create_task(
                self._follow(
                    core.list_namespaced_config_map,
                    {"label_selector": f"{BINDING_LABEL}=true"},
                    self._on_binding,
                ),
                name="watch-bindings",
            ),
        ]

    async def patch_endpoint_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the status of ExternalModelEndpoint `name` with `status` (the reporter's writes)."""
        assert self._api is not None, "start() first"
        group, version, plural = ENDPOINT_RESOURCE
        # A merge patch (the client would pick a strategic one, which custom resources do not take);
        # `_content_type` is a keyword the generated method accepts but its type stubs omit.
        await k8s.CustomObjectsApi(self._api).patch_namespaced_custom_object_status(  # type: ignore[call-arg]
            group,
            version,
            self.namespace,
            plural,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",
            _request_timeout=REPORT_TIMEOUT_SECONDS,
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._api is not None:
            await self._api.close()

    async def _follow(
        self,
        list_fn: Callable[..., Any],
        selectors: dict[str, str],
        handle: Callable[[str, Any], None],
    ) -> None:
        """List, then watch from that list's version; list again after an expired watch or an error."""
        delay = 0.5
        while True:
            try:
                listed = await list_fn(self.namespace, **selectors)
                handle("SYNC", listed.items)
                version = listed.metadata.resource_version
                delay = 0.5
                stream = watch.Watch().stream(
                    list_fn, self.namespace, resource_version=version, timeout_seconds=300, **selectors
                )
                async for event in stream:
                    handle(event["type"], event["object"])
            except asyncio.CancelledError:
                raise
            except ApiException as e:
                if e.status != 410:  # 410 Gone: the version expired, list again at once
                    log.warning(
                        "watching %s failed (%s): retrying in %.1f s", list_fn.__name__, e.status, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            except Exception as e:  # connection loss, apiserver restarts: keep serving the last snapshot
                log.warning(
                    "watching %s failed (%s): retrying in %.1f s", list_fn.__name__, type(e).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _on_configmap(self, kind: str, obj: Any) -> None:
        items = obj if kind == "SYNC" else [obj]
        if kind == "DELETED" or (kind == "SYNC" and not items):
            return  # no table (yet): keep serving the last one
        raw = ((items[-1].data or {}) if items else {}).get(ROUTES_KEY)
        try:
            table = RouteTable.model_validate_json(raw or "")
        except ValidationError as e:
            self.metrics.table_errors.inc()
            log.error(
                "route table %s/%s is unreadable (the last good one keeps serving): %s",
                self.namespace,
                ROUTES_CONFIGMAP,
                e.errors()[0]["msg"],
            )
            return
        if table.namespace != self.namespace:
            self.metrics.table_errors.inc()
            log.error("route table of namespace %s found in %s: ignored", table.namespace, self.namespace)
            return
        self._table = table
        self._fetch_missing()
        self._rebuild()

    def _fetch_missing(self) -> None:
        missing = self._referenced() - set(self._secrets)
        if missing and self._core is not None:  # the watch only keeps Secrets already named: read them now
            self._tasks.append(asyncio.create_task(self._fetch(sorted(missing)), name="fetch-secrets"))

    def _on_binding(self, kind: str, obj: Any) -> None:
        items = obj if kind == "SYNC" else [obj]
        if kind == "SYNC":
            self._bindings = {}
        for cm in items:
            name = cm.metadata.name
            if kind == "DELETED":
                self._bindings.pop(name, None)
                continue
            binding = parse_binding(name, (cm.data or {}).get(BINDING_KEY), self.namespace)
            if binding is None:
                self.metrics.binding_errors.inc()
                self._bindings.pop(name, None)
            else:
                self._bindings[name] = binding
        self.metrics.collection_bindings.set(len(self._bindings))
        self._fetch_missing()
        self._rebuild()

    async def _fetch(self, names: list[str]) -> None:
        assert self._core is not None
        for name in names:
            try:
                secret = await self._core.read_namespaced_secret(name, self.namespace)
            except ApiException as e:
                log.warning("Secret %s/%s named by the route table: %s", self.namespace, name, e.status)
                continue
            self._secrets[name] = _decode(secret)
        self._rebuild()

    def _referenced(self) -> set[str]:
        names = binding_secrets(self._bindings.values())
        if self._table is not None:
            names |= {b.credential.secret for r in self._table.routes for b in r.backends if b.credential}
        return names

    def _on_secret(self, kind: str, obj: Any) -> None:
        wanted = self._referenced()
        items = obj if kind == "SYNC" else [obj]
        if kind == "SYNC":
            self._secrets = {}
        for secret in items:
            name = secret.metadata.name
            if kind == "DELETED":
                self._secrets.pop(name, None)
            elif name in wanted:
                self._secrets[name] = _decode(secret)
        self._rebuild()

    def _on_key(self, kind: str, obj: Any) -> None:
        items = obj if kind == "SYNC" else [obj]
        if kind == "SYNC":
            self._keys = {}
        for secret in items:
            if kind == "DELETED":
                self._keys.pop(secret.metadata.name, None)
            else:
                self._keys[secret.metadata.name] = _decode(secret)
        self._rebuild()

    def _rebuild(self) -> None:
        if self._table is None:
            return
        credentials = {
            (name, key): value for name, data in self._secrets.items() for key, value in data.items()
        }
        grants = dict(
            g for name, data in sorted(self._keys.items()) if (g := parse_grant(name, data)) is not None
        )
        collections = {b.name: b for b in self._bindings.values()}
        self._snapshot = Snapshot(self._table, credentials, grants, collections)
        self.metrics.routes.set(len(self._table.routes))
        if self.on_change is not None:
            self.on_change()
