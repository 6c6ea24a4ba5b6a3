"""Asks a running embedder what it serves (GET /v1/models): the dimension for status.dimension.

Two ways to reach it: straight to the Service's cluster DNS name (an operator inside the cluster), or
through the apiserver's service proxy (an operator outside it, as in `vectorops dev` and the tests;
needs `get` on `services/proxy`).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Protocol

import aiohttp
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError


class ProbeFailed(Exception):
    """The embedder could not be asked, or did not say; the message says why."""


class EmbedderProbe(Protocol):
    async def dimension(self, namespace: str, service: str, port: int) -> int: ...


def _dimension(body: Any) -> int:
    try:
        value = body["data"][0]["dimension"]
    except (KeyError, IndexError, TypeError) as e:
        raise ProbeFailed("the embedder's /v1/models names no dimension (an older image?)") from e
    if not isinstance(value, int) or value < 1:
        raise ProbeFailed(f"the embedder reported an invalid dimension {value!r}")
    return value


def make_probe(mode: str, api: ApiClient) -> EmbedderProbe:
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if mode == "direct" or (mode == "auto" and in_pod):
        return DirectProbe()
    return ServiceProxyProbe(api)


class DirectProbe:
    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def dimension(self, namespace: str, service: str, port: int) -> int:
        url = f"http://{service}.{namespace}.svc:{port}/v1/models"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url) as response,
            ):
                if response.status != 200:
                    raise ProbeFailed(f"GET {url} answered {response.status}")
                return _dimension(await response.json())
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ProbeFailed(f"GET {url} failed: {e or type(e).__name__}") from e


class ServiceProxyProbe:
    def __init__(self, api: ApiClient) -> None:
        self._core = CoreV1Api(api)

    def _get(self, namespace: str, service: str) -> bytes:
        response = self._core.connect_get_namespaced_service_proxy_with_path(
            f"{service}:http", namespace, "v1/models", _preload_content=False, _request_timeout=5
        )
        return bytes(response.data)  # type: ignore[attr-defined]  # urllib3 response, not str

    async def dimension(self, namespace: str, service: str, port: int) -> int:
        try:
            raw = await asyncio.to_thread(self._get, namespace, service)
        except ApiException as e:
            raise ProbeFailed(
                f"the apiserver's proxy to Service {service} answered {e.status}: {e.reason}"
            ) from e
        except (OSError, HTTPError) as e:
            raise ProbeFailed(f"the apiserver's proxy to Service {service} failed: {e}") from e
        try:
            return _dimension(json.loads(raw))
        except ValueError as e:
            raise ProbeFailed(f"Service {service} did not answer JSON on /v1/models") from e
