"""Checkpoints that are plain files on the web (not hub repositories): downloaded once, checked by sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .errors import Sound2ImgError


def download_checkpoint(url: str, sha256: str, cache_dir: str | Path | None = None) -> Path:
    """The checkpoint file from the local cache, or downloaded and checked against `sha256` first."""
    cache = Path(cache_dir or Path(torch.hub.get_dir()) / "sound2img")
    path = cache / Path(url).name
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        try:
            torch.hub.download_url_to_file(url, str(partial), progress=True)
        except OSError as error:
            raise Sound2ImgError(f"Could not download {path.name} from {url}: {error}") from error
        actual = sha256_of(partial)
        if actual != sha256:
            partial.unlink()
            raise Sound2ImgError(f"{path.name} from {url} is corrupt (sha256 {actual}, expected {sha256}).")
        partial.rename(path)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
