"""Stores come from kopf's index, not a GET per pass; other reads still reach the apiserver."""

from __future__ import annotations

from typing import Any

from vectorops.operator.handlers.store_index import STORES_INDEX, IndexedReader, reader_for


class Apiserver:
    def __init__(self) -> None:
        self.gets: list[tuple[str, str, str]] = []

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        return frozenset({"url"})

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return "redis://cache:6379/0"

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return await self.get_custom_object(plural, namespace, name) is not None

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append((plural, namespace, name))
        return {"metadata": {"name": name}, "spec": {}}


STORE = {"metadata": {"name": "q", "namespace": "ml"}, "spec": {"qdrant": {"url": "http://q:6333"}}}


async def test_stores_are_read_from_the_index_and_nothing_else_is() -> None:
    api = Apiserver()
    reader = reader_for(api, {STORES_INDEX: {("ml", "q"): [STORE]}, "other_index": {}})
    assert isinstance(reader, IndexedReader)
    assert await reader.get_custom_object("vectorstores", "ml", "q") == STORE
    assert await reader.get_custom_object("vectorstores", "ml", "missing") is None
    assert not await reader.custom_object_exists("vectorstores", "other-ns", "q")
    assert api.gets == []  # not one GET for a store
    assert await reader.custom_object_exists("embeddingmodels", "ml", "minilm")
    assert await reader.secret_value("ml", "cache", "url") == "redis://cache:6379/0"
    assert api.gets == [("embeddingmodels", "ml", "minilm")]


def test_without_the_index_the_apiserver_is_read() -> None:
    api = Apiserver()
    assert reader_for(api, {}) is api
