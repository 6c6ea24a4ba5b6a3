"""The VectorStore's Redis probe against a real redis-server: what it reports when Redis answers, refuses
the password, is gone or the URL is malformed, and that no message ever holds the password."""

from __future__ import annotations

from pathlib import Path

import redis

from tests.conftest import RedisServer
from vectorops.operator.adapters.redis_probe import RedisProber, describe

PASSWORD = "redis-pw-3c9d5e"


def test_describe_never_names_the_credentials() -> None:
    assert describe(f"redis://user:{PASSWORD}@cache.example:6380/2") == "redis://cache.example:6380/2"
    assert describe("rediss://cache.example") == "rediss://cache.example:6379"
    assert describe("redis://[::1]:6380/2") == "redis://[::1]:6380/2"


async def test_a_user_who_may_ping_but_not_read_info_is_a_working_cache(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    admin = redis.Redis(port=server.port, password=PASSWORD)
    admin.acl_setuser("cache", enabled=True, passwords=["+p@ss-7f3a"], commands=["+ping", "+get", "+set"])
    admin.acl_setuser("nothing", enabled=True, passwords=["+n-7f3a"], commands=["-@all"])
    try:
        limited = await RedisProber().probe(f"redis://cache:p%40ss-7f3a@127.0.0.1:{server.port}/0")
        refused = await RedisProber().probe(f"redis://nothing:n-7f3a@127.0.0.1:{server.port}/0")
    finally:
        admin.close()
        server.stop()
    assert (limited.reachable, limited.server_version) == (True, None), limited
    assert "version not readable" in limited.message
    assert (refused.reachable, refused.reason) == (False, "RedisAuthenticationFailed"), refused
    for probe in (limited, refused):
        assert "p@ss-7f3a" not in probe.message and "p%40ss-7f3a" not in probe.message


async def test_a_reachable_redis_reports_version_and_latency(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    seen: list[tuple[str, float]] = []
    try:
        probe = await RedisProber(observe=lambda op, s: seen.append((op, s))).probe(server.url)
    finally:
        server.stop()
    assert probe.reachable and probe.reason == "Connected"
    assert probe.server_version and probe.server_version[0].isdigit()
    assert probe.latency_ms is not None and probe.latency_ms >= 0
    assert f"127.0.0.1:{server.port}/0" in probe.message and PASSWORD not in probe.message
    assert [op for op, _ in seen] == ["probe"]


async def test_wrong_password_missing_password_down_and_bad_url_each_say_why(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    prober = RedisProber(timeout_seconds=1.0)
    wrong = f"redis://:not-{PASSWORD}@127.0.0.1:{server.port}/0"
    try:
        refused = await prober.probe(wrong)
        anonymous = await prober.probe(f"redis://127.0.0.1:{server.port}/0")
    finally:
        server.stop()
    down = await prober.probe(server.url)
    malformed = await prober.probe(f"http://:{PASSWORD}@127.0.0.1:{server.port}")
    for probe in (refused, anonymous):
        assert (probe.reachable, probe.reason) == (False, "RedisAuthenticationFailed"), probe
        assert "spec.redis.urlSecretRef" in probe.message
    assert (down.reachable, down.reason) == (False, "RedisUnreachable")
    assert f"redis://127.0.0.1:{server.port}/0 is unreachable" in down.message
    assert (malformed.reachable, malformed.reason) == (False, "InvalidSpec")
    for probe in (refused, anonymous, down, malformed):
        assert PASSWORD not in probe.message and f"not-{PASSWORD}" not in probe.message
