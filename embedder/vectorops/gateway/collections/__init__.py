"""The collections data path of the gateway: ingest, delete, search, list, consistency and repair of
VectorCollections, over Qdrant (vectors) and PostgreSQL (documents and the operation log). The write
protocol and its failure table are in docs/datapath.md."""
