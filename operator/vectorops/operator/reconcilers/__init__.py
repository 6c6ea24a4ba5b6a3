"""Reconcilers: observe -> build desired (pure) -> compare/apply -> compute status (pure)."""
