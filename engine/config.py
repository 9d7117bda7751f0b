"""Frozen configuration objects, parsed once at the edge (CLI, settings) and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "Viewfinder"

# ViT-B-32 trained on DataComp-XL: 69.2% ImageNet zero-shot at the cost of the smallest standard ViT
# (4.4 GFLOPs per photo), a good quality per CPU-second, and a plain open_clip VisionTransformer, so
# patch tokens and the ClearCLIP heatmap path work on it.
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "datacomp_xl_s13b_b90k"


@dataclass(frozen=True)
class ModelSpec:
    """Which model makes the vectors.

    name: an open_clip model name, or a path to an open_clip JSON config (custom architecture).
    pretrained: an open_clip pretrained tag, a local checkpoint file (.safetensors, .pt, .bin), or
        None for random initialisation with a fixed seed (tests and benchmarks only).
    """

    name: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED

    @property
    def key(self) -> str:
        """A stable identity recorded in the library next to the vectors this model made."""
        pretrained = self.pretrained or "random-init"
        if pretrained and os.path.isfile(pretrained):
            stat = os.stat(pretrained)
            pretrained = f"{Path(pretrained).resolve()}@{stat.st_size}"
        name = str(Path(self.name).resolve()) if self.name.endswith(".json") else self.name
        return f"{name}|{pretrained}"

    @property
    def cache_key(self) -> str:
        """The identity of files derived from the weights (exported graphs): the library key plus
        the weights' modification time, so weights replaced in place at the same size are re-exported."""
        if self.pretrained and os.path.isfile(self.pretrained):
            return f"{self.key}@{os.stat(self.pretrained).st_mtime_ns}"
        return self.key


def default_library_dir() -> Path:
    """VIEWFINDER_LIBRARY, else the platform's user data directory."""
    env = os.environ.get("VIEWFINDER_LIBRARY")
    if env:
        return Path(env).expanduser()
    import platformdirs  # a few hundredths of a second, only where no folder was given

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library"


def default_cache_dir() -> Path:
    """VIEWFINDER_CACHE, else the platform's user cache directory (exported model graphs)."""
    env = os.environ.get("VIEWFINDER_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
