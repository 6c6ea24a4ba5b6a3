"""Thin kopf handlers: one module per kind, each only wiring kopf to a reconciler."""
