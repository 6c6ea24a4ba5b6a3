"""Model backends: the batcher calls `estimate_tokens` and `encode`; nothing else about models leaks out."""
