"""Model backends: the batcher calls `token_counts` and `encode`; nothing else about models leaks out."""
