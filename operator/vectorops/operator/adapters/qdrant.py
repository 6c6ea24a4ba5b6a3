"""Probing a Qdrant endpoint through qdrant-client (the only way the operator talks to Qdrant)."""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

LOCAL_PREFIX = "local:"


@dataclass(frozen=True)
class QdrantEndpoint:
    url: str
    api_key: str | None = None
    timeout_seconds: int = 10
    verify: bool | str = True


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    message: str


def _probe_local(path: str) -> ProbeResult:
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return ProbeResult(False, "LocalPathUnusable", f"cannot create {folder}: {e.strerror}")
    if not os.access(folder, os.W_OK):
        return ProbeResult(False, "LocalPathUnusable", f"{folder} is not writable by the operator")
    return ProbeResult(True, "Connected", f"embedded Qdrant engine at {folder}")


def _probe_remote(ep: QdrantEndpoint) -> ProbeResult:
    with warnings.catch_warnings():
        # qdrant-client warns when an API key travels over plain http; the store's owner chose that.
        warnings.simplefilter("ignore", UserWarning)
        client = QdrantClient(url=ep.url, api_key=ep.api_key, timeout=ep.timeout_seconds, verify=ep.verify)
    try:
        client.get_collections()
    except UnexpectedResponse as e:
        if e.status_code in (401, 403):
            return ProbeResult(
                False, "Unauthorized", f"Qdrant at {ep.url} rejected the API key ({e.status_code})"
            )
        return ProbeResult(False, "BackendError", f"Qdrant at {ep.url} answered {e.status_code}")
    except (ResponseHandlingException, OSError) as e:
        return ProbeResult(
            False, "BackendUnreachable", f"Qdrant at {ep.url} is unreachable: {type(e).__name__}"
        )
    finally:
        client.close()
    return ProbeResult(True, "Connected", f"Qdrant at {ep.url} answers")


async def probe(ep: QdrantEndpoint) -> ProbeResult:
    if ep.url.startswith(LOCAL_PREFIX):
        return _probe_local(ep.url[len(LOCAL_PREFIX) :])
    return await asyncio.to_thread(_probe_remote, ep)
