"""The gateway as a real process against the real apiserver: it serves the route table the operator
compiles, with provider keys and client keys from Secrets, and picks up a moved endpoint and rotated
Secrets within seconds, without failing a request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.conftest import Cluster, OperatorProcess, ready_is, secret
from tests.processes import gateway_process
from vectorops.devtools.fake_provider import FakeProvider

API = "vectorops.io/v1alpha1"
PROVIDER_KEY = "sk-gw-old-1a2b3c"
NEW_PROVIDER_KEY = "sk-gw-new-4d5e6f"
CLIENT_KEY = "vk-gw-client-7a8b9c"
NEW_CLIENT_KEY = "vk-gw-client-0d1e2f"


def key_secret(name: str, key: str, **extra: str) -> dict[str, Any]:
    manifest = secret(name, key=key, **extra)
    manifest["metadata"]["labels"] = {"vectorops.io/gateway-key": "true"}
    return manifest


def endpoint(url: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ExternalModelEndpoint",
        "metadata": {"name": "hosted"},
        "spec": {
            "url": url,
            "models": [{"name": "e5", "upstreamModel": "e5-up", "dimensions": 8, "identity": "fake/e5"}],
            "auth": {"type": "bearer", "secretRef": {"name": "provider", "key": "token"}},
            "healthProbe": {"intervalSeconds": 5},
        },
    }


@pytest.fixture
def providers() -> Iterator[tuple[FakeProvider, FakeProvider]]:
    with (
        FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as a,
        FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as b,
    ):
        yield a, b


async def _load(url: str, key_of: Any, stop: asyncio.Event, failures: list[str]) -> int:
    """Embedding requests one after another until stopped; every failure is kept."""
    done = 0
    while not stop.is_set():
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key_of(), max_retries=0)
        try:
            await client.embeddings.create(model="e5", input=["load"])
            done += 1
        except openai.APIError as e:
            failures.append(f"{type(e).__name__}: {e}")
        finally:
            await client.close()
    return done


def _eventually(check: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.2)


def test_the_gateway_serves_the_table_and_follows_changes_without_failing_a_request(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    providers: tuple[FakeProvider, FakeProvider],
    tmp_path: Path,
) -> None:
    first, second = providers
    ns = namespace
    cluster.apply(ns, secret("provider", token=PROVIDER_KEY), key_secret("team-a", CLIENT_KEY))
    cluster.apply(ns, endpoint(first.base_url))
    cluster.wait_for(ns, "externalmodelendpoint", "hosted", ready_is("True", "Routed"))
    # No cache: the load below repeats one text, and must reach the providers to follow the changes.
    with gateway_process(cluster.cp.kubeconfig, ns, tmp_path / "gateway.log", CACHE_LRU_ENTRIES="0") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0)
        _eventually(lambda: _ok(lambda: client.embeddings.create(model="e5", input="hello")))
        result = client.embeddings.create(model="e5", input=["hello", "world"])
        assert result.model == "e5" and len(result.data) == 2 and len(result.data[0].embedding) == 8
        assert first.requests[-1].auth == f"Bearer {PROVIDER_KEY}"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="vk-nobody", max_retries=0).models.list()

        async def under_load() -> tuple[int, list[str]]:
            stop, failures, client_key = asyncio.Event(), [], [CLIENT_KEY]
            load = asyncio.create_task(_load(url, lambda: client_key[0], stop, failures))
            # 1. The endpoint moves to another provider: served there within seconds.
            await asyncio.to_thread(cluster.apply, ns, endpoint(second.base_url))
            await asyncio.to_thread(_eventually, lambda: second.count("/v1/embeddings") > 0)
            # 2. The provider's key is rotated: both keys are valid until the gateway uses the new one,
            #    then the old one is revoked.
            second.api_key = None
            await asyncio.to_thread(cluster.apply, ns, secret("provider", token=NEW_PROVIDER_KEY))
            await asyncio.to_thread(
                _eventually, lambda: second.requests[-1].auth == f"Bearer {NEW_PROVIDER_KEY}"
            )
            second.api_key = NEW_PROVIDER_KEY
            # 3. The client's key is rotated the same way: a second key first, then the old one goes.
            await asyncio.to_thread(cluster.apply, ns, key_secret("team-a-next", NEW_CLIENT_KEY))
            await asyncio.sleep(2)
            client_key[0] = NEW_CLIENT_KEY
            await asyncio.sleep(1)  # requests already sent with the old key finish before it is revoked
            await asyncio.to_thread(cluster.kubectl, "delete", "-n", ns, "secret", "team-a")
            await asyncio.sleep(2)
            stop.set()
            return await load, failures

        done, failures = asyncio.run(under_load())
        assert failures == [] and done > 20, (done, failures[:5])
        with pytest.raises(openai.AuthenticationError):  # the old client key is gone
            client.embeddings.create(model="e5", input="x")
        log = (tmp_path / "gateway.log").read_text()
        for value in (PROVIDER_KEY, NEW_PROVIDER_KEY, CLIENT_KEY, NEW_CLIENT_KEY):
            assert value not in log


def _ok(call: Any) -> bool:
    try:
        call()
    except openai.APIError:
        return False
    return True


def _gateway_view(cluster: Cluster, ns: str, replica: str) -> dict[str, Any]:
    status = cluster.get(ns, "externalmodelendpoint", "hosted").get("status") or {}
    return ((status.get("gateways") or {}).get(replica) or {"backends": [{}]})["backends"][0]


def _degraded(cluster: Cluster, ns: str) -> tuple[str, str]:
    obj = cluster.get(ns, "externalmodelendpoint", "hosted")
    c = next(c for c in obj["status"]["conditions"] if c["type"] == "Degraded")
    return c["status"], c["reason"]


def test_the_gateway_writes_its_breaker_state_into_the_endpoint_status(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    providers: tuple[FakeProvider, FakeProvider],
    tmp_path: Path,
) -> None:
    provider, _ = providers
    ns, replica = namespace, "gw-test-0"
    manifest = endpoint(provider.base_url)
    manifest["spec"] |= {
        "retries": {"maxAttempts": 1},
        "circuitBreaker": {"failureThreshold": 2, "openSeconds": 2},
        "healthProbe": {"intervalSeconds": 3600},  # one probe: the breaker alone speaks below
    }
    cluster.apply(ns, secret("provider", token=PROVIDER_KEY), key_secret("team-a", CLIENT_KEY))
    cluster.apply(ns, manifest)
    cluster.wait_for(ns, "externalmodelendpoint", "hosted", ready_is("True", "Routed"))
    with gateway_process(cluster.cp.kubeconfig, ns, tmp_path / "gateway.log", REPLICA=replica) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0)
        _eventually(lambda: _ok(lambda: client.embeddings.create(model="e5", input="hello")))
        _eventually(lambda: _gateway_view(cluster, ns, replica).get("breaker") == "closed")
        provider.fail_next(2, status=503)
        for _ in range(2):
            with pytest.raises(openai.APIStatusError):
                client.embeddings.create(model="e5", input="fails")
        _eventually(lambda: _gateway_view(cluster, ns, replica).get("breaker") == "open")
        view = _gateway_view(cluster, ns, replica)
        assert view["trips"] == 1 and "503" in view["lastError"]
        # The operator reads the report on its next pass (resync every 2 s); generous under a loaded CI.
        _eventually(lambda: _degraded(cluster, ns) == ("True", "BreakerOpen"), timeout=60)
        assert cluster.get(ns, "externalmodelendpoint", "hosted")["status"]["conditions"]
        time.sleep(2)  # the open time passes: the next request is the half-open trial, and succeeds
        _eventually(lambda: _ok(lambda: client.embeddings.create(model="e5", input="back")))
        _eventually(lambda: _gateway_view(cluster, ns, replica).get("breaker") == "closed")
        _eventually(lambda: _degraded(cluster, ns)[0] == "False", timeout=60)
    # A replica that stops withdraws its entry.
    status = cluster.get(ns, "externalmodelendpoint", "hosted")["status"]
    assert replica not in (status.get("gateways") or {})
    assert PROVIDER_KEY not in str(status) and CLIENT_KEY not in str(status)
