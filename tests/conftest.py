"""Shared fixtures: the sample photos (tests/data), a tiny real open_clip model, a temporary library."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Eager torch unless a test asks for the runtime (tests/engine/test_runtime.py): some tests train
# the tiny model in place, which exported graphs would not follow. Exports go to a private cache.
os.environ.setdefault("VIEWFINDER_PRECISION", "torch")
if "VIEWFINDER_CACHE" not in os.environ:  # removed at exit: exported graphs would fill the disk
    os.environ["VIEWFINDER_CACHE"] = tempfile.mkdtemp(prefix="viewfinder-cache-")
    atexit.register(shutil.rmtree, os.environ["VIEWFINDER_CACHE"], ignore_errors=True)
# Two threads for torch's, OpenMP's and numpy's (OpenBLAS) kernels, here and in the CLI processes
# tests start: float sums then run in the same order on a machine with more cores, so figures
# measured on a 2-core machine (a trained tiny model's retrieval, say) come out the same there.
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_threads, "2")

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "tests" / "assets" / "tiny-clip.json"
SAMPLE_PHOTOS = ROOT / "tests" / "data" / "photos"  # attribution: tests/data/ATTRIBUTION.md


@pytest.fixture(scope="session")
def sample_photos() -> Path:
    """The sample photos kept in the repository; never modify them, copy first."""
    return SAMPLE_PHOTOS


@pytest.fixture(scope="session")
def shared_photos(sample_photos: Path) -> Path:
    """The sample photos under their former fixture name."""
    return sample_photos


@pytest.fixture
def photos_copy(sample_photos: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample photos."""
    dest = tmp_path / "photos"
    shutil.copytree(sample_photos, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    """An open_clip JSON config for a tiny ViT dual encoder (random init, fixed seed)."""
    return TINY_CONFIG


@pytest.fixture(scope="session")
def tiny_encoder(tiny_config: Path):
    """The tiny model, loaded once per session (identical weights in every process: fixed seed)."""
    from engine.config import ModelSpec
    from engine.encoder import Encoder

    return Encoder.load(ModelSpec(str(tiny_config), None), "cpu")


@pytest.fixture
def make_library(tmp_path: Path, tiny_encoder):
    """Build libraries on tmp_path that share the session's tiny encoder; closed after the test."""
    from engine.library import Library

    opened = []

    def make(name: str = "library", **kwargs):
        kwargs.setdefault("encoder", tiny_encoder)
        library = Library(tmp_path / name, **kwargs)
        opened.append(library)
        return library

    yield make
    for library in opened:
        library.close()


# OpenAI's ResNet image tower (RN50's kind) shrunk: one block per stage, a 128-pixel input (a 4 x 4
# patch grid), beside a two-layer text tower; at random init.
TINY_RESNET = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 128, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_resnet(tmp_path_factory):
    """An Encoder of TINY_RESNET on the OpenVINO runtime (exported once per session)."""
    from engine.config import ModelSpec
    from engine.encoder import Encoder

    config = tmp_path_factory.mktemp("resnet") / "tiny-resnet.json"
    config.write_text(json.dumps(TINY_RESNET))
    return Encoder.load(ModelSpec(str(config), None), "cpu", precision="auto")


@pytest.fixture(scope="session")
def pretrained_tiny(tiny_config: Path):
    """The tiny model pretrained on generic synthetic scenes (tests/world.py): a ModelSpec.

    Built by tests/fixtures/pretrain_tiny.py: the committed weights while their recipe is current,
    else a cached rebuild (minutes, once per checkout).
    """
    from fixtures.pretrain_tiny import pretrained_weights

    from engine.config import ModelSpec

    return ModelSpec(str(tiny_config), str(pretrained_weights()))


@pytest.fixture(scope="session")
def pretrained_encoder(pretrained_tiny):
    """An Encoder of `pretrained_tiny`, loaded once per session (treat it as read-only)."""
    from engine.encoder import Encoder

    return Encoder.load(pretrained_tiny, "cpu")


@pytest.fixture(scope="session")
def personal_encoder(tiny_config: Path):
    """An Encoder of the tiny model pretrained on sibling scene pairs, which knows patterns and
    accents as well as colours and shapes (tests/fixtures/pretrain_tiny.py, PAIRS): the base of
    the personal-tag tests. Loaded once per session (treat it as read-only)."""
    from fixtures.pretrain_tiny import PAIRS, pretrained_weights

    from engine.config import ModelSpec
    from engine.encoder import Encoder

    return Encoder.load(ModelSpec(str(tiny_config), str(pretrained_weights(PAIRS))), "cpu")


@pytest.fixture(scope="session")
def coarse_encoder():
    """personal_encoder's recipe with 16-pixel patches: a 4 x 4 patch grid where the other has
    8 x 8 (tests/fixtures/pretrain_tiny.py, PAIRS_COARSE). Loaded once per session (read-only)."""
    from fixtures.pretrain_tiny import PAIRS_COARSE, pretrained_weights

    from engine.config import ModelSpec
    from engine.encoder import Encoder

    spec = ModelSpec(str(PAIRS_COARSE.config_path), str(pretrained_weights(PAIRS_COARSE)))
    return Encoder.load(spec, "cpu")
