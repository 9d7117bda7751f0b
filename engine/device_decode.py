"""JPEG decoding on the model's device: nvJPEG on a CUDA GPU, through torchvision.

On a GPU the model embeds hundreds of photos a second, far more than the CPU can decode (a 12 MP
JPEG costs about 30 ms of one core even at 1/8 scale). So when the encoder runs on CUDA, the
indexer's workers only read, hash and parse the header of each JPEG; the compressed bytes of a
batch go to the GPU together, are decoded there, turned upright, resized and cropped as the
model's preprocessing does, and embedded without coming back. The perceptual hash is computed from
the same decoded pixels on the GPU.

Everything here also runs on the CPU (torchvision's libjpeg decoder), which is how it is tested;
the CPU indexer keeps its own, faster path (reduced-scale decoding in PIL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .phash import BITS

if TYPE_CHECKING:
    from .encoder import Encoder

JPEG_MAGIC = b"\xff\xd8\xff"
_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL's convert("L")


def is_jpeg(data: bytes) -> bool:
    return data[:3] == JPEG_MAGIC


def decode(datas: Sequence[bytes], device: str) -> list[torch.Tensor]:
    """JPEG files -> (3, H, W) uint8 RGB tensors as stored (not yet upright), on `device`.
    Raises RuntimeError when any of them cannot be decoded (the caller falls back per photo)."""
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation notice, once per call
        out = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    return list(out) if isinstance(out, list) else [out]


def upright(pixels: torch.Tensor, orientation: int) -> torch.Tensor:
    """A (C, H, W) image turned as its EXIF orientation (1..8) says, like PIL's exif_transpose."""
    if orientation == 2:
        return pixels.flip(-1)
    if orientation == 3:
        return pixels.flip(-1, -2)
    if orientation == 4:
        return pixels.flip(-2)
    if orientation == 5:
        return pixels.transpose(-1, -2)
    if orientation == 6:
        return pixels.transpose(-1, -2).flip(-1)
    if orientation == 7:
        return pixels.transpose(-1, -2).flip(-1, -2)
    if orientation == 8:
        return pixels.transpose(-1, -2).flip(-2)
    return pixels


def model_input(encoder: Encoder, pixels: torch.Tensor) -> torch.Tensor:
    """An upright (3, H, W) uint8 image -> the model's (3, h, w) normalised input, on its device:
    the shorter side resized and the centre cropped (or the whole photo squashed), as
    `Encoder.preprocess_array` does, with an antialiased bicubic filter."""
    from .encoder import resize_crop

    th, tw = encoder.image_size
    image = pixels.float()[None] / 255.0
    if encoder.preprocess_mode == "squash":
        out = F.interpolate(image, size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
    else:
        h, w = pixels.shape[-2:]
        new_w, new_h, left, top = resize_crop((w, h), encoder.image_size)
        resized = F.interpolate(
            image, size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False
        )
        out = resized[..., top : top + th, left : left + tw]
    mean = torch.tensor(encoder.preprocess_mean, device=out.device).view(1, 3, 1, 1)
    std = torch.tensor(encoder.preprocess_std, device=out.device).view(1, 3, 1, 1)
    return ((out.clamp(0.0, 1.0) - mean) / std)[0]


_DCT: dict[str, torch.Tensor] = {}


def perceptual_hash(pixels: torch.Tensor) -> int:
    """engine.phash's 64-bit pHash of an upright (3, H, W) uint8 image, computed where it lies:
    grey levels, area-averaged to 32x32, the 8x8 lowest 2-D DCT coefficients against their median."""
    from .phash import _DCT as dct_matrix
    from .phash import _KEEP, _SIDE, _WEIGHTS

    key = str(pixels.device)
    if key not in _DCT:
        _DCT[key] = torch.from_numpy(dct_matrix).to(pixels.device, torch.float64)
    dct = _DCT[key]
    weights = torch.tensor(_GREY, device=pixels.device, dtype=torch.float32).view(3, 1, 1)
    grey = (pixels.float() * weights).sum(dim=0)
    small = F.adaptive_avg_pool2d(grey[None, None], (_SIDE, _SIDE))[0, 0].double()
    low = (dct @ small @ dct.T)[:_KEEP, :_KEEP].reshape(-1).cpu().numpy()
    bits = (low > np.median(low)).astype(np.uint64)
    assert bits.size == BITS
    return int(np.int64(np.sum(bits * _WEIGHTS, dtype=np.uint64)))
