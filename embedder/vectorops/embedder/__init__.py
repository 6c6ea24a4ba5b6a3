"""The vectorops data plane: the embedding server (one per EmbeddingModel)."""
