"""The fake provider answers like OpenAI (checked through the official client) and each fault does what
its docstring says (checked with raw HTTP)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from vectorops.devtools.fake_provider import FakeProvider

KEY = "sk-test-key"
EMBED = {"model": "fake-embedding", "input": ["a b", "c"]}
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there world"}]
CHAT = {"model": "fake-chat", "messages": MESSAGES}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=KEY, dimension=16) as p:
        yield p


@pytest.fixture
def client(provider: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=provider.base_url, api_key=KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(provider: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=provider.base_url, api_key=KEY, max_retries=0) as c:
        yield c


def post(p: FakeProvider, path: str, body: object, timeout: float = 10.0, key: str = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(p.url + path, json=body, headers=headers, timeout=timeout)


async def until(condition: object) -> None:
    """Wait (bounded) for something the server thread does; a wait, not a timing assertion."""
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never got there")


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


# -- the API -------------------------------------------------------------------------------------------
async def test_embeddings_through_the_openai_client(aclient: openai.AsyncOpenAI) -> None:
    # The client asks for base64 unless told otherwise, and decodes it.
    result = await aclient.embeddings.create(model="fake-embedding", input=["one two", "three"])
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 16 for d in result.data)
    assert all(norm(d.embedding) == pytest.approx(1.0, abs=1e-5) for d in result.data)
    assert result.usage.prompt_tokens == 3 and result.usage.total_tokens == 3
    again = await aclient.embeddings.create(model="fake-embedding", input="one two", encoding_format="float")
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
    short = await aclient.embeddings.create(model="fake-embedding", input="one two", dimensions=4)
    assert len(short.data[0].embedding) == 4 and norm(short.data[0].embedding) == pytest.approx(1.0, abs=1e-5)


def test_vectors_depend_on_model_and_text_and_base64_is_little_endian_float32() -> None:
    with FakeProvider(models=["m1", "m2"], dimension=6, normalize=False) as p:
        plain = post(p, "/v1/embeddings", {"model": "m1", "input": ["x", "y"]}).json()["data"]
        other = post(p, "/v1/embeddings", {"model": "m2", "input": "x"}).json()["data"]
        packed = post(p, "/v1/embeddings", {"model": "m1", "input": "x", "encoding_format": "base64"}).json()
    assert plain[0]["embedding"] != plain[1]["embedding"]
    assert plain[0]["embedding"] != other[0]["embedding"]
    assert norm(plain[0]["embedding"]) != pytest.approx(1.0)  # normalize=False
    decoded = struct.unpack("<6f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(plain[0]["embedding"], abs=1e-6)


def test_token_arrays_and_null_dimensions_are_accepted(provider: FakeProvider) -> None:
    unset = post(provider, "/v1/embeddings", {"model": "fake-embedding", "input": "x", "dimensions": None})
    assert len(unset.json()["data"][0]["embedding"]) == 16
    body = post(provider, "/v1/embeddings", {"model": "fake-embedding", "input": [[1, 2], [3]]}).json()
    assert len(body["data"]) == 2
    assert (
        len(post(provider, "/v1/embeddings", {"model": "fake-embedding", "input": [1, 2, 3]}).json()["data"])
        == 1
    )


def test_chat_echoes_the_last_user_message(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="fake-chat",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "say this back"},
        ],
    )
    assert result.choices[0].message.content == "say this back"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 3)


def test_max_tokens_cuts_the_reply_with_finish_reason_length(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="fake-chat", messages=[{"role": "user", "content": "a b c d e"}], max_tokens=2
    )
    assert result.choices[0].message.content == "a b"
    assert result.choices[0].finish_reason == "length"


async def test_chat_stream_through_the_openai_client(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    with_choices = [c for c in chunks if c.choices]
    assert len(with_choices) == 6  # the role, one per word, the finish
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == "one two three four"
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1


def test_raw_stream_is_server_sent_events_ending_in_done(provider: FakeProvider) -> None:
    response = post(provider, "/v1/chat/completions", CHAT | {"stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n") if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert len(chunks) == 5 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "usage" not in chunks[0]  # only with stream_options.include_usage


def test_models_and_health(provider: FakeProvider) -> None:
    models = httpx.get(provider.base_url + "/models", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert [m["id"] for m in models["data"]] == ["fake-embedding", "fake-chat"]
    assert httpx.get(provider.url + "/health").json() == {"status": "ok"}  # no key needed


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/embeddings", {"model": "nope", "input": "x"}, 404, None),
        ("/v1/embeddings", {"input": "x"}, 400, "model"),
        ("/v1/embeddings", {"model": "fake-embedding", "input": []}, 400, "input"),
        ("/v1/embeddings", {"model": "fake-embedding", "input": [1, "x"]}, 400, "input"),
        ("/v1/embeddings", {"model": "fake-embedding", "input": "x", "dimensions": 17}, 400, "dimensions"),
        (
            "/v1/embeddings",
            {"model": "fake-embedding", "input": "x", "encoding_format": "hex"},
            400,
            "encoding_format",
        ),
        ("/v1/chat/completions", {"model": "fake-chat", "messages": []}, 400, "messages"),
        ("/v1/chat/completions", ["not", "an", "object"], 400, None),
    ],
)
def test_bad_requests_answer_openai_errors(
    provider: FakeProvider, path: str, body: object, status: int, param: str | None
) -> None:
    response = post(provider, path, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


# -- auth ----------------------------------------------------------------------------------------------
def test_missing_or_wrong_key_is_401(provider: FakeProvider) -> None:
    with (
        openai.OpenAI(base_url=provider.base_url, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as raised,
    ):
        wrong.embeddings.create(model="fake-embedding", input="x")
    assert "sk-wrong" not in str(raised.value)
    missing = httpx.post(provider.base_url + "/embeddings", json=EMBED)
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"
    assert [r.auth for r in provider.requests] == ["Bearer sk-wrong", None]
    assert "sk-wrong" not in repr(provider.requests)  # a record never shows the key


def test_key_in_a_header_of_its_own() -> None:
    with FakeProvider(api_key=KEY, auth_header="api-key") as p:
        ok = httpx.post(p.base_url + "/embeddings", json=EMBED, headers={"api-key": KEY})
        bearer = httpx.post(p.base_url + "/embeddings", json=EMBED, headers={"api-key": f"Bearer {KEY}"})
        with openai.OpenAI(base_url=p.base_url, api_key="unused", default_headers={"api-key": KEY}) as c:
            assert len(c.embeddings.create(model="fake-embedding", input="x").data) == 1
    assert (ok.status_code, bearer.status_code) == (200, 401)
    assert p.requests[0].auth == KEY


# -- faults --------------------------------------------------------------------------------------------
def test_fail_next(provider: FakeProvider, client: openai.OpenAI) -> None:
    provider.fail_next(2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.embeddings.create(model="fake-embedding", input="x")
    assert len(client.embeddings.create(model="fake-embedding", input="x").data) == 1
    provider.fail_next(1, status=503, body="upstream connect error")
    provider.fail_next(1, status=502, body={"detail": "bad gateway"})
    raw = post(provider, "/v1/chat/completions", CHAT)
    assert (raw.status_code, raw.text) == (503, "upstream connect error")
    raw = post(provider, "/v1/chat/completions", CHAT)
    assert (raw.status_code, raw.json()) == (502, {"detail": "bad gateway"})
    assert [r.status for r in provider.requests] == [500, 500, 200, 503, 502]


def test_rate_limit_next(provider: FakeProvider, client: openai.OpenAI) -> None:
    provider.rate_limit_next(1, retry_after="7")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake-chat", messages=MESSAGES)
    provider.rate_limit_next(1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    provider.rate_limit_next(1, retry_after=None)
    first, second = post(provider, "/v1/embeddings", EMBED), post(provider, "/v1/embeddings", EMBED)
    assert first.status_code == 429 and first.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert second.status_code == 429 and "Retry-After" not in second.headers
    assert post(provider, "/v1/embeddings", EMBED).status_code == 200


def test_faults_come_in_the_order_they_were_set_and_spare_models_and_health(provider: FakeProvider) -> None:
    provider.fail_next(1)
    provider.rate_limit_next(1)
    assert httpx.get(provider.url + "/health").status_code == 200
    models = httpx.get(provider.base_url + "/models", headers={"Authorization": f"Bearer {KEY}"})
    assert models.status_code == 200
    assert post(provider, "/v1/embeddings", EMBED, key="wrong").status_code == 401  # takes no fault
    assert [post(provider, "/v1/embeddings", EMBED).status_code for _ in range(3)] == [500, 429, 200]


def test_delay_and_slow_requests(provider: FakeProvider) -> None:
    provider.delay(60)
    with pytest.raises(httpx.ReadTimeout):
        post(provider, "/v1/embeddings", EMBED, timeout=0.2)
    provider.delay(0)
    assert post(provider, "/v1/embeddings", EMBED, timeout=10).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        post(provider, "/v1/embeddings", EMBED | {"slow": 60}, timeout=0.2)
    assert post(provider, "/v1/embeddings", EMBED, timeout=10).status_code == 200


async def test_stall_until_unstalled(provider: FakeProvider) -> None:
    provider.stall()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(provider.base_url + "/embeddings", json=EMBED, timeout=0.2)
        pending = asyncio.create_task(http.post(provider.base_url + "/chat/completions", json=CHAT))
        await until(lambda: provider.count("/v1/chat/completions") == 1)
        assert not pending.done()
        assert [r.status for r in provider.requests] == [None, None]  # neither answered
        provider.unstall()
        response = await pending
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hello there world"


async def test_stall_a_number_of_requests(provider: FakeProvider) -> None:
    provider.stall(times=1)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(provider.base_url + "/embeddings", json=EMBED, timeout=0.2)
        assert (await http.post(provider.base_url + "/embeddings", json=EMBED, timeout=10)).status_code == 200


def test_break_stream_after(provider: FakeProvider) -> None:
    provider.break_stream_after(2)
    events: list[str] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    body = CHAT | {"stream": True}
    with httpx.stream(
        "POST", provider.base_url + "/chat/completions", json=body, headers=headers
    ) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            events.extend(line for line in response.iter_lines() if line)
    assert len(events) == 2 and "data: [DONE]" not in events
    assert post(provider, "/v1/chat/completions", body).text.rstrip().endswith("data: [DONE]")  # once only


async def test_break_stream_through_the_openai_client(
    provider: FakeProvider, aclient: openai.AsyncOpenAI
) -> None:
    provider.break_stream_after(3)
    seen: list[object] = []
    stream = await aclient.chat.completions.create(model="fake-chat", messages=MESSAGES, stream=True)

    async def read() -> None:
        async for chunk in stream:
            seen.append(chunk)

    with pytest.raises(openai.APIConnectionError):  # the client wraps the cut
        await read()
    assert len(seen) == 3


def test_down_and_up_on_the_same_port_keep_state(provider: FakeProvider) -> None:
    port = provider.port
    assert post(provider, "/v1/embeddings", EMBED).status_code == 200
    provider.fail_next(1)
    provider.down()
    with pytest.raises(httpx.ConnectError):
        post(provider, "/v1/embeddings", EMBED)
    provider.up()
    assert provider.port == port
    assert [post(provider, "/v1/embeddings", EMBED).status_code for _ in range(2)] == [500, 200]
    assert provider.count("/v1/embeddings") == 3  # the refused one never arrived


async def test_down_drops_requests_in_flight(provider: FakeProvider) -> None:
    provider.stall()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as http:
        pending = asyncio.create_task(http.post(provider.base_url + "/embeddings", json=EMBED))
        await until(lambda: provider.count() == 1)
        await asyncio.to_thread(provider.down)
        with pytest.raises(httpx.RemoteProtocolError):
            await pending
        provider.unstall()
        await asyncio.to_thread(provider.up)
        assert (await http.post(provider.base_url + "/embeddings", json=EMBED)).status_code == 200


def test_max_batch_is_a_400_like_openai(provider: FakeProvider, client: openai.OpenAI) -> None:
    provider.max_batch = 2
    assert len(client.embeddings.create(model="fake-embedding", input=["a", "b"]).data) == 2
    with pytest.raises(openai.BadRequestError, match="max number of inputs is 2"):
        client.embeddings.create(model="fake-embedding", input=["a", "b", "c"])
    provider.max_batch = None
    assert len(client.embeddings.create(model="fake-embedding", input=["a", "b", "c"]).data) == 3


def test_records_and_reset(provider: FakeProvider) -> None:
    post(provider, "/v1/embeddings", EMBED)
    post(provider, "/v1/chat/completions", CHAT | {"stream": True})
    httpx.get(provider.url + "/health")
    first, second, third = provider.requests
    assert (first.method, first.path, first.model, first.inputs, first.stream, first.status) == (
        "POST",
        "/v1/embeddings",
        "fake-embedding",
        2,
        False,
        200,
    )
    assert (second.model, second.inputs, second.stream, second.auth) == (
        "fake-chat",
        1,
        True,
        f"Bearer {KEY}",
    )
    assert (third.method, third.path, third.model) == ("GET", "/health", None)
    assert provider.count() == 3 and provider.count("/health") == 1
    provider.fail_next(3)
    provider.reset()
    assert provider.requests == []
    assert post(provider, "/v1/embeddings", EMBED).status_code == 200


async def test_async_context_manager() -> None:
    async with (
        FakeProvider() as p,
        openai.AsyncOpenAI(base_url=p.base_url, api_key="any", max_retries=0) as c,
    ):
        result = await c.embeddings.create(model="fake-embedding", input="x")
        assert len(result.data[0].embedding) == 8
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(p.url + "/health")
