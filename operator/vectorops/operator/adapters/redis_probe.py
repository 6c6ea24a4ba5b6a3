"""Redis through redis-py's asyncio client: is a store's Redis (the embedders' result cache) usable?

One short-lived connection per probe (a store is probed once per resync), so no pool has to follow a
rotated Secret. Every message names the server as host:port/db and never holds the URL's password.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as rx

from vectorops.operator.adapters.probe import BackendProbe
from vectorops.serving.vector_cache import redis_location as describe  # the embedders' and gateway's own

REDIS_UNREACHABLE = "RedisUnreachable"
REDIS_AUTH_FAILED = "RedisAuthenticationFailed"
REDIS_URL_INVALID = "InvalidSpec"


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's password, as written in the URL or percent-decoded."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text.replace(url, "***")
    for form in {password, unquote(password)} if password else ():
        text = text.replace(form, "***")
    return text


def classify(e: BaseException, url: str) -> BackendProbe:
    where = describe(url)
    # redis-py strips the NOPERM prefix into NoPermissionError; NOAUTH/WRONGPASS stay in the text.
    if isinstance(e, rx.AuthenticationError | rx.AuthorizationError | rx.NoPermissionError) or (
        isinstance(e, rx.ResponseError) and str(e).startswith(("NOAUTH", "WRONGPASS"))
    ):
        return BackendProbe(
            False,
            REDIS_AUTH_FAILED,
            f"Redis at {where} refused the credentials in spec.redis.urlSecretRef "
            f"({type(e).__name__}): fix the user or password in the URL",
        )
    if isinstance(e, rx.TimeoutError | TimeoutError):
        return BackendProbe(False, REDIS_UNREACHABLE, f"Redis at {where} did not answer in time")
    detail = _scrub(str(e), url).strip() or type(e).__name__
    return BackendProbe(False, REDIS_UNREACHABLE, f"Redis at {where} is unreachable: {detail}")


@dataclass(frozen=True)
class RedisProber:
    timeout_seconds: float = 3.0
    observe: Callable[[str, float], None] | None = None  # (operation, seconds): the operator's metrics

    async def probe(self, url: str) -> BackendProbe:
        """PING and INFO server; the latency is the PING's round trip."""
        started = time.perf_counter()
        try:
            client = aioredis.Redis.from_url(
                url,
                socket_connect_timeout=self.timeout_seconds,
                socket_timeout=self.timeout_seconds,
                single_connection_client=True,
                retry_on_timeout=False,
            )
        except ValueError as e:  # the URL's scheme or form; its text may hold the password
            return BackendProbe(
                False,
                REDIS_URL_INVALID,
                f"spec.redis.urlSecretRef: the Secret does not hold a valid Redis URL "
                f"(redis://[:password@]host:6379/0 or rediss://): {_scrub(str(e), url)}",
            )
        try:
            ping_started = time.perf_counter()
            await client.ping()
            latency = (time.perf_counter() - ping_started) * 1000
            version = await _version(client)
        except Exception as e:
            return classify(e, url)
        finally:
            await client.aclose()
            if self.observe is not None:
                self.observe("probe", time.perf_counter() - started)
        return BackendProbe(
            True,
            "Connected",
            f"Redis {version or '(version not readable)'} at {describe(url)} answers",
            version,
            round(latency, 2),
        )


async def _version(client: aioredis.Redis) -> str | None:
    """INFO server's redis_version; None where the user may PING (and GET/SET) but not INFO: a
    least-privilege cache user is still a working cache."""
    try:
        info = await client.info("server")
    except rx.NoPermissionError:
        return None
    return str(info.get("redis_version") or "") or None
