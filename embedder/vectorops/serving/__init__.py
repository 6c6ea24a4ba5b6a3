"""What every HTTP server of ours shares (the embedder and the gateway): OpenAI-shaped errors, fast JSON
responses, the Prometheus exposition."""
