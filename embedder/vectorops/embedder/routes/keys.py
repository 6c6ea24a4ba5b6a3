"""Typed keys of what the app holds. The app's state is frozen once it starts, so what appears
later (the loaded model's service) lives in a mutable Runtime set up front."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from vectorops.embedder.batching import DynamicBatcher
from vectorops.embedder.cache import EmbeddingCache
from vectorops.embedder.metrics import Metrics
from vectorops.embedder.service import EmbeddingService
from vectorops.embedder.settings import EmbedderSettings


@dataclass
class Runtime:
    metrics: Metrics
    cache: EmbeddingCache | None = None  # keyed by the loaded model's digest, so made once it is loaded
    batcher: DynamicBatcher | None = None
    service: EmbeddingService | None = None  # set once the model is loaded and warmed
    failure: str | None = None  # why the model could not be loaded: readyz and embeddings say it
    ready: asyncio.Event = field(default_factory=asyncio.Event)


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", EmbedderSettings)
