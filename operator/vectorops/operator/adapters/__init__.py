"""I/O behind small interfaces: Kubernetes reads, Qdrant probes. Reconcilers depend on the Protocols."""
