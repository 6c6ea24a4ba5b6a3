"""Prometheus metrics of one embedder, on a registry of its own (so tests can build many apps)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "vectorops_embedder_requests_total", "Embedding requests by HTTP status", ["status"], registry=r
        )
        self.texts = Counter(
            "vectorops_embedder_texts_total", "Texts embedded (cache hits included)", registry=r
        )
        self.tokens = Counter(
            "vectorops_embedder_prompt_tokens_total", "Prompt tokens, as reported in usage", registry=r
        )
        self.batches = Counter("vectorops_embedder_batches_total", "Batches handed to the model", registry=r)
        self.forward_passes = Counter(
            "vectorops_embedder_forward_passes_total",
            "Forward passes (a batch is split into passes of similar lengths)",
            registry=r,
        )
        self.batch_size = Histogram(
            "vectorops_embedder_batch_size", "Texts per batch", buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "vectorops_embedder_batch_padded_tokens",
            "Padded tokens per forward pass",
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "vectorops_embedder_queue_depth", "Texts waiting for a forward pass", registry=r
        )
        self.stage_seconds = Histogram(
            "vectorops_embedder_stage_duration_seconds",
            "Time per stage of a request or batch",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "vectorops_embedder_request_duration_seconds",
            "Whole request latency",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_lookups = Counter(
            "vectorops_embedder_cache_lookups_total", "Cache lookups by result", ["result"], registry=r
        )
        self.cache_errors = Counter(
            "vectorops_embedder_cache_errors_total", "Redis failures (the cache was bypassed)", registry=r
        )
        self.batcher_restarts = Counter(
            "vectorops_embedder_batcher_restarts_total",
            "Times the batching loop failed (its waiting requests got 503) and was restarted",
            registry=r,
        )
        self.device_memory = Gauge(
            "vectorops_embedder_device_memory_bytes", "Accelerator memory allocated", registry=r
        )
        self.device_memory_total = Gauge(
            "vectorops_embedder_device_memory_total_bytes",
            "The accelerator's memory in all (what device_memory_bytes can grow to)",
            registry=r,
        )
