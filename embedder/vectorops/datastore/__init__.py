"""A collection's metadata in PostgreSQL: the schema's name, its versioned migrations (applied by the
operator), and the documents and operation log the gateway reads and writes. Shared by both, so the
layout is written once."""
