"""The reliability suite runs on the integration suite's real control plane, operator process and Qdrant
stand-in (the fixtures are shared, not copied)."""

from tests.integration.conftest import cluster, control_plane, namespace, qdrant  # noqa: F401
