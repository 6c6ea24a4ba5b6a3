"""Pure builders: from a spec (pydantic) to what must exist. No I/O, no Kubernetes client."""
