"""Minimal status patches: write only what differs, so an idle resync writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level status keys whose value differs (None removes a key in a merge patch)."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if current.get(key) != value:
            patch[key] = value
    return patch
