"""The gateway: one OpenAI-compatible entry point for a namespace's models (in-cluster embedders and
external model APIs), routed by the table the operator compiles."""
