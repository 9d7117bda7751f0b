"""Model versions: every training run's weights, how they are mixed in, and which one searches.

A version stores *deltas* (tuned - base, only the weights training changed) under
<library>/models/vN/ with its config and metrics; the base weights are the base model's own. The
model a search uses is materialised on demand as one merged checkpoint,
``theta = theta_base + a * delta`` (WiSE-FT with mixing weight a), written deterministically, so
re-materialising a version gives the same file, the same ModelSpec key and the same results.
Version 0 means the base model itself.

Switching never re-embeds when it need not: a text-only version has the base model's image tower,
so the photo vectors of the current model (if its image tower is the same) are copied under the
new model's key and the switch completes at once. A version that changed the image tower goes
through Library.set_model: the next index() re-embeds resumably while search keeps the old vectors.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.config import ModelSpec
from engine.errors import ViewfinderError
from engine.library import Library
from engine.storage.versions import VersionRecord

from .tuning import TEXT_SIDE_MODES

log = logging.getLogger(__name__)

MODELS_DIR = "models"
_HISTORY = "model_history"  # meta key: JSON list of {"version", "mix", "spec"}; last = active


class VersionError(ViewfinderError):
    """A model version request that cannot be carried out (unknown version, nothing to undo)."""


@dataclass(frozen=True)
class ModelVersion:
    """One training run's result."""

    version: int
    created_at: float
    base_model: ModelSpec
    path: Path  # the version's folder
    config: dict
    metrics: dict
    mix: float
    active: bool

    @property
    def tune(self) -> str:
        return str(self.config.get("tune", "text"))

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "base_model": {"name": self.base_model.name, "pretrained": self.base_model.pretrained},
            "path": str(self.path),
            "config": self.config,
            "metrics": self.metrics,
            "mix": self.mix,
            "active": self.active,
        }


def _spec_json(spec: ModelSpec) -> str:
    return json.dumps({"name": spec.name, "pretrained": spec.pretrained})


def _spec(text: str) -> ModelSpec:
    data = json.loads(text)
    return ModelSpec(data["name"], data.get("pretrained"))


def _version(library: Library, r: VersionRecord, active: int | None = None) -> ModelVersion:
    # Stored relative to the library folder, so a moved library keeps its versions.
    return ModelVersion(
        r.version,
        r.created_at,
        _spec(r.base_model),
        library.path.resolve() / r.path,
        json.loads(r.config),
        json.loads(r.metrics),
        r.mix,
        r.version == (active_version(library) if active is None else active),
    )


def _versions(library: Library) -> list[ModelVersion]:
    """All versions, oldest first, without working out which is active."""
    return [_version(library, r, active=-1) for r in library.store.versions.all()]


def list_versions(library: Library) -> list[ModelVersion]:
    """All versions, oldest first. The active one is the one the library's model points at: the
    library's model setting is the only record of which model answers searches."""
    active = active_version(library)
    return [_version(library, r, active) for r in library.store.versions.all()]


def get_version(library: Library, version: int) -> ModelVersion:
    row = library.store.versions.get(version)
    if row is None:
        known = ", ".join(str(v.version) for v in list_versions(library)) or "none yet"
        raise VersionError(f"There is no model version {version} (versions: {known}; 0 is the base model).")
    return _version(library, row)


def version_of(library: Library, spec: ModelSpec) -> ModelVersion | None:
    """The version whose merged checkpoint `spec` points at, if any."""
    if not spec.pretrained or not spec.pretrained.endswith(".safetensors"):
        return None
    folder = Path(spec.pretrained).resolve().parent
    for v in _versions(library):
        if folder == v.path:
            return v
    return None


def token_aligned(library: Library) -> bool:
    """True when the search model is a version trained with token-level alignment: its own patch
    tokens are aligned with the words, and ClearCLIP's training-free variant must not replace them."""
    version = version_of(library, library.model)
    return bool(version is not None and version.config.get("token_loss"))


def training_base(library: Library) -> ModelSpec:
    """The model training starts from: the library's model, or the base of the version in use.
    Versions never stack: each is a delta from one base."""
    current = version_of(library, library.model)
    return current.base_model if current else library.model


def image_identity(library: Library, spec: ModelSpec) -> str:
    """A key that is equal for two models exactly when their image towers are the same."""
    v = version_of(library, spec)
    if v is not None and v.tune in TEXT_SIDE_MODES:
        return v.base_model.key
    return spec.key


def active_version(library: Library) -> int:
    """The version that answers searches (0: no fine-tuned version)."""
    v = version_of(library, library.target_model) or version_of(library, library.model)
    return v.version if v else 0


# -- creating ----------------------------------------------------------------------------------


def create_version(
    library: Library,
    base: ModelSpec,
    deltas: dict[str, torch.Tensor],
    config: dict,
    metrics: dict,
    mix: float = 1.0,
) -> ModelVersion:
    """Store a new version: deltas.safetensors, config.json, metrics.json and its database row."""
    check_mix(mix)
    root = library.path.resolve() / MODELS_DIR
    root.mkdir(exist_ok=True)
    _remove_unrecorded(library)
    # The files first, then the row that refers to them: a kill in between leaves a folder that no
    # row names, removed by the next call; never a row without its files.
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    save_file({k: v.contiguous() for k, v in deltas.items()}, str(staging / "deltas.safetensors"))
    (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    with library.store.transaction():
        number = library.store.versions.next_number()
        folder = root / f"v{number}"
        os.replace(staging, folder)
        library.store.versions.insert(
            VersionRecord(
                number,
                time.time(),
                _spec_json(base),
                f"{MODELS_DIR}/v{number}",
                json.dumps(config),
                json.dumps(metrics),
                mix,
            )
        )
    return get_version(library, number)


def check_mix(mix: float) -> float:
    if not 0.0 <= mix <= 1.0:
        raise VersionError(
            f"The mixing weight must be between 0 (base model) and 1 (fully tuned), got {mix}."
        )
    return mix


def merged_checkpoint(library: Library, version: ModelVersion, mix: float) -> ModelSpec:
    """The ModelSpec of base + mix * deltas, writing its checkpoint when it is not there yet."""
    check_mix(mix)
    path = version.path / f"merged-a{mix:.3f}.safetensors"
    if not path.is_file():
        deltas = load_file(str(version.path / "deltas.safetensors"))
        base = library.encoder(version.base_model).model.state_dict()
        state = {k: v.detach().to("cpu", torch.float32) for k, v in base.items()}
        for name, delta in deltas.items():
            state[name] = state[name] + mix * delta
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        os.replace(tmp, path)
    return ModelSpec(version.base_model.name, str(path))


# -- switching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """What `use_version` did: the model now answering searches, or being switched to."""

    version: int
    mix: float
    spec: ModelSpec
    reembedding: bool  # True: run index() to re-embed the photos; search uses the old model until then


def _history(library: Library) -> list[dict]:
    return json.loads(library.store.settings.get(_HISTORY) or "[]")


def use_version(library: Library, version: int, mix: float | None = None) -> Activation:
    """Make `version` (0 = base model) answer searches, at mixing weight `mix` (default: the
    version's own). The previous choice is remembered for `rollback`."""
    history = _history(library)
    if not history:  # remember where we start from, so the first switch can be undone
        current = version_of(library, library.model)
        history.append(
            {
                "version": current.version if current else 0,
                "mix": current.mix if current else 1.0,
                "spec": _spec_json(library.model),
            }
        )

    def remember(activation: Activation) -> list[dict]:
        entry = {"version": activation.version, "mix": activation.mix, "spec": _spec_json(activation.spec)}
        return (history if history[-1] == entry else [*history, entry])[-50:]

    return _activate(library, version, mix, None, remember)


def rollback(library: Library) -> Activation:
    """Go back to the model used before the last switch, with its mixing weight."""
    history = _history(library)
    if len(history) < 2:
        raise VersionError("There is no earlier model to roll back to.")
    previous = history[-2]
    return _activate(
        library, int(previous["version"]), float(previous["mix"]), _spec(previous["spec"]), lambda _: history[:-1]
    )


def _activate(
    library: Library,
    version: int,
    mix: float | None,
    base: ModelSpec | None,
    history: Callable[[Activation], list[dict]],
) -> Activation:
    """Switch models in one transaction: the mixing weight, the library's model and the history
    change together. The merged checkpoint is written before; if the switch never commits, it is
    removed (here, or by the next switch after a kill)."""
    if version == 0:
        spec = base or training_base(library)
        mix = 1.0
    else:
        v = get_version(library, version)
        mix = check_mix(v.mix if mix is None else mix)
        spec = merged_checkpoint(library, v, mix)
    try:
        with library.store.transaction():
            if version:
                library.store.versions.set_mix(version, mix)
            reembedding = _switch(library, spec)
            activation = Activation(version, mix, spec, reembedding)
            library.store.settings.set(_HISTORY, json.dumps(history(activation)))
    finally:
        _remove_unused_checkpoints(library)
    return activation


def _switch(library: Library, spec: ModelSpec) -> bool:
    current = library.model
    if spec.key == current.key:
        library.set_model(spec)  # cancels a switch in progress
        return False
    if image_identity(library, spec) == image_identity(library, current):
        # Same image tower: its photo vectors are the new model's too, and so is the index.
        library.switch_text_side(spec)
        return False
    library.set_model(spec)
    return True


def _remove_unused_checkpoints(library: Library) -> None:
    """Merged checkpoints are caches (a version's deltas are the truth); keep only those in use."""
    keep = {str(Path(s.pretrained).resolve()) for s in (library.model, library.target_model) if s.pretrained}
    for v in _versions(library):
        for file in v.path.glob("merged-a*.safetensors"):
            if str(file.resolve()) not in keep:
                try:
                    file.unlink()
                except OSError as e:
                    log.warning("could not remove %s: %s", file, e)


def _remove_unrecorded(library: Library) -> None:
    """Remove version folders that no row names (a kill between writing them and recording them)."""
    root = library.path.resolve() / MODELS_DIR
    recorded = {v.path for v in _versions(library)}
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.is_dir() and folder not in recorded:
            shutil.rmtree(folder, ignore_errors=True)
