"""What a loaded model is, as a digest of its files: part of every cache key, so a replaced model (same
path, same `local` revision label) never serves the vectors of the one before it from a shared Redis."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def directory_digest(root: Path | str) -> str:
    """sha256 over the directory's files in sorted relative-path order: each file's path and the sha256
    of its contents. Symlinks are followed (a Hugging Face snapshot is links to blobs). Hidden
    directories are skipped: they hold tool metadata with timestamps (.cache/huggingface, .git) or, in a
    Kubernetes volume (..data), the same files the visible names link to."""
    root = Path(root)
    files = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(folder, name) for name in names]
    if not files:
        raise FileNotFoundError(f"no model files under {root}")
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        with open(path, "rb") as f:
            content = hashlib.file_digest(f, "sha256").digest()
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + content)
    return "sha256:" + digest.hexdigest()


def hub_snapshot(repo: str, revision: str | None) -> Path:
    """The local snapshot directory a Hugging Face repo id resolved to (after sentence-transformers has
    loaded it, so it is in the cache: nothing is downloaded here)."""
    from huggingface_hub import snapshot_download

    folder = snapshot_download(
        repo,
        revision=revision,
        local_files_only=True,
        cache_dir=os.getenv("SENTENCE_TRANSFORMERS_HOME"),  # where sentence-transformers looked
    )
    return Path(folder)
