"""Run rclip 3.3 offline, on the same architecture as ours at random init, for side-by-side figures.

rclip 3.3 answers through ONNX Runtime with ViT-B-32-256 graphs it downloads once into its data
folder ($RCLIP_DATADIR). Nothing can be downloaded here, and a random-init model costs what the
pretrained one does, so `prepare` exports open_clip's ViT-B-32-256 at random init into that folder
under the names rclip looks for (visual.onnx and textual.onnx, input "input") with the tokenizer
vocabulary it expects; rclip then finds them and never downloads.

rclip is not a dependency of ours: install it apart, without its dependencies (numpy, onnxruntime,
Pillow, ftfy, regex, rawpy and tqdm come from this environment):

    .venv/bin/python -m pip install --no-deps --target /tmp/rclip rclip==3.3

rclip imports `pi_heif` (the HEIF opener without HEVC); a small shim maps it to pillow-heif.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MODEL = "ViT-B-32-256"
_SUBDIR = "ViT-B-32-256-datacomp_s34b_b86k"
_SHIM = "from pillow_heif import register_heif_opener  # noqa: F401  (rclip's pi_heif, for benchmarks)\n"


def prepare(datadir: Path) -> None:
    """Export the random-init towers and the vocabulary into rclip's data folder (once)."""
    models = datadir / _SUBDIR
    if (models / "visual.onnx").exists() and (models / "textual.onnx").exists():
        return
    import open_clip
    import torch

    models.mkdir(parents=True, exist_ok=True)
    model = open_clip.create_model(MODEL, pretrained=None).eval()
    size = model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size

    class Tower(torch.nn.Module):
        def __init__(self, encode: str):
            super().__init__()
            self.model, self.encode = model, encode

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return getattr(self.model, self.encode)(x)

    with torch.enable_grad():  # no_grad would take torch's fused attention, which ONNX lacks
        torch.onnx.export(
            Tower("encode_image"),
            (torch.zeros(2, 3, size, size),),
            str(models / "visual.onnx"),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
        )
        tokens = open_clip.get_tokenizer(MODEL)(["a photo", "a dog"])
        torch.onnx.export(
            Tower("encode_text"),
            (tokens,),
            str(models / "textual.onnx"),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
        )
    (datadir / "tokenizer").mkdir(exist_ok=True)
    shutil.copy(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", datadir / "tokenizer")


def environment(rclip_dir: Path, datadir: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment for `python -m rclip`: rclip and the shim on the path, its data folder, offline."""
    shim = datadir / "shim"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "pi_heif.py").write_text(_SHIM)
    path = os.pathsep.join([str(rclip_dir), str(shim)])
    return {**base, "PYTHONPATH": path, "RCLIP_DATADIR": str(datadir), "HF_HUB_OFFLINE": "1"}
