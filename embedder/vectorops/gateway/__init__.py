"""The OpenAI-compatible gateway: routes a model's requests to its upstream backends."""
