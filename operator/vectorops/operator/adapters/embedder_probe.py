"""Asks a running embedder what it serves (GET /v1/models): the dimension for status.dimension.

Two ways to reach it: straight to the Service's cluster DNS name (an operator inside the cluster), or
through the apiserver's service proxy (an operator outside it, as in `vectorops-dev` and the tests;
needs `get` on `services/proxy`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol

import aiohttp

from vectorops.operator.adapters.kube import KubeClient, KubeFailure


class ProbeFailed(Exception):
    """The embedder could not be asked, or did not say; the message says why."""


class EmbedderProbe(Protocol):
    async def dimension(self, namespace: str, service: str, port: int) -> int: ...


def parse_dimension(raw: bytes) -> int:
    """The dimension named by a /v1/models answer, or ProbeFailed saying what was wrong with it."""
    try:
        body: Any = json.loads(raw)
    except ValueError as e:
        raise ProbeFailed("the embedder did not answer JSON on /v1/models") from e
    try:
        value = body["data"][0]["dimension"]
    except (KeyError, IndexError, TypeError) as e:
        raise ProbeFailed("the embedder's /v1/models names no dimension (an older image?)") from e
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProbeFailed(f"the embedder reported an invalid dimension {value!r}")
    return value


def make_probe(mode: str, kube: KubeClient) -> EmbedderProbe:
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if mode == "direct" or (mode == "auto" and in_pod):
        return DirectProbe()
    return ServiceProxyProbe(kube)


class DirectProbe:
    """To the Service's DNS name; `host_pattern` lets a test point it at an address of its own."""

    def __init__(self, timeout_s: float = 5.0, host_pattern: str = "{service}.{namespace}.svc") -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._host_pattern = host_pattern

    async def dimension(self, namespace: str, service: str, port: int) -> int:
        host = self._host_pattern.format(service=service, namespace=namespace)
        url = f"http://{host}:{port}/v1/models"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url) as response,
            ):
                if response.status != 200:
                    raise ProbeFailed(f"GET {url} answered {response.status}")
                return parse_dimension(await response.read())
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProbeFailed(f"GET {url} failed: {e or type(e).__name__}") from e


class ServiceProxyProbe:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    async def dimension(self, namespace: str, service: str, port: int) -> int:
        try:
            status, raw = await self._kube.proxy_get(namespace, service, "http", "v1/models")
        except KubeFailure as e:
            raise ProbeFailed(f"the apiserver's proxy to Service {service} failed: {e.message}") from e
        if status != 200:
            raise ProbeFailed(f"the apiserver's proxy to Service {service} answered {status}")
        return parse_dimension(raw)
