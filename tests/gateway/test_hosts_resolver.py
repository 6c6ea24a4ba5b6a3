"""The gateway's hosts-file resolver (VECTOROPS_GATEWAY_HOSTS_FILE): names from the file first, DNS for the
rest, and a file that changes is read again, so names added later resolve without a restart."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from vectorops.devtools.fake_provider import FakeProvider
from vectorops.gateway.upstream import HostsFileResolver, Upstream, UpstreamError, parse_hosts
from vectorops.routing.table import Backend


class Fallback(AbstractResolver):
    """Stands for DNS: answers every name with 192.0.2.1 and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [ResolveResult(hostname=host, host="192.0.2.1", port=port, family=family, proto=0, flags=0)]

    async def close(self) -> None:
        self.closed = True


def test_parse_hosts_reads_the_etc_hosts_format() -> None:
    text = (
        "# written by a test\n"
        "10.250.100.2  minilm-embedder.default.svc Minilm-Embedder.default.svc.cluster.local  # comment\n"
        "\n"
        "not-an-address some.name\n"
        "10.250.101.2\n"
        "fd00::2 six.default.svc\n"
        "10.250.102.2 six.default.svc\n"
    )
    assert parse_hosts(text) == {
        "minilm-embedder.default.svc": ["10.250.100.2"],
        "minilm-embedder.default.svc.cluster.local": ["10.250.100.2"],
        "six.default.svc": ["fd00::2", "10.250.102.2"],
    }


async def test_names_in_the_file_come_first_and_the_rest_goes_to_dns(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.250.100.2 minilm-embedder.default.svc\nfd00::2 minilm-embedder.default.svc\n")
    dns = Fallback()
    resolver = HostsFileResolver(hosts, dns)

    (found,) = await resolver.resolve("MINILM-embedder.default.svc.", 80)
    assert (found["host"], found["port"], found["family"]) == ("10.250.100.2", 80, socket.AF_INET)
    both = await resolver.resolve("minilm-embedder.default.svc", 80, socket.AF_UNSPEC)
    assert [r["host"] for r in both] == ["10.250.100.2", "fd00::2"]
    assert dns.asked == []

    (elsewhere,) = await resolver.resolve("api.example.com", 443)
    assert elsewhere["host"] == "192.0.2.1"
    assert dns.asked == ["api.example.com"]
    await resolver.close()
    assert dns.closed


async def test_a_changed_or_new_file_is_read_again(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    dns = Fallback()
    resolver = HostsFileResolver(hosts, dns)
    (before,) = await resolver.resolve("bge-embedder.default.svc")  # no file yet: DNS
    assert before["host"] == "192.0.2.1"

    hosts.write_text("10.250.100.2 minilm-embedder.default.svc\n")
    assert (await resolver.resolve("minilm-embedder.default.svc"))[0]["host"] == "10.250.100.2"

    # Replaced the way vectorops-dev writes it (a new file renamed over the old): a new model appears.
    new = tmp_path / "hosts.new"
    new.write_text("10.250.100.2 minilm-embedder.default.svc\n10.250.101.2 bge-embedder.default.svc\n")
    os.replace(new, hosts)
    assert (await resolver.resolve("bge-embedder.default.svc"))[0]["host"] == "10.250.101.2"

    hosts.unlink()
    assert (await resolver.resolve("minilm-embedder.default.svc"))[0]["host"] == "192.0.2.1"


@pytest.mark.parametrize("hosts_file", [True, False])
async def test_upstream_reaches_a_service_name_through_the_hosts_file(
    tmp_path: Path, hosts_file: bool
) -> None:
    """What the gateway does in vectorops-dev: a route's backend URL names a Service, and the hosts file
    says where it is."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 minilm-embedder.nowhere-test.svc\n")
    with FakeProvider(dimension=8, models=("minilm",)) as provider:
        backend = Backend(
            source="EmbeddingModel/minilm",
            url=f"http://minilm-embedder.nowhere-test.svc:{provider.port}/v1",
            upstream_model="minilm",
        )
        upstream = Upstream(hosts_file=hosts if hosts_file else None)
        try:
            if hosts_file:
                answer = await upstream.embed(backend, {}, ["a sentence"], {})
                assert len(answer.embeddings) == 1 and len(answer.embeddings[0]) == 8
            else:  # without it, the name means nothing here (it is not in DNS)
                with pytest.raises(UpstreamError, match=r"unreachable|timed out"):
                    await upstream.embed(backend, {}, ["a sentence"], {})
        finally:
            await upstream.close()
