"""JPEG decoding on the model's device: nvJPEG on a CUDA GPU, through torchvision.

On a GPU the model embeds thousands of photos a second (ViT-B-32 on an H100: 24,000), far more than
the CPU can decode (a 12 MP JPEG costs 30-50 ms of one core even at 1/8 scale). So when the encoder
runs on CUDA, the indexer's workers read, hash and parse the header of each JPEG; the compressed
bytes of a batch go to the GPU together, are decoded there by its JPEG engines (an H100's: about 590
twelve-megapixel photos/s), shrunk as the CPU path shrinks them, turned upright, resized and cropped
as the model's preprocessing does, and embedded without coming back. The perceptual hash is computed
from the same pixels on the GPU. When the GPU's decoder falls behind, the workers decode the next
JPEGs themselves (engine/indexer.py).

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


def is_complete(data: bytes) -> bool:
    """Whether a JPEG's header is whole and its image data closed by the end marker: a file cut short
    is not. nvJPEG decodes such a file without a word, as grey below the cut; the CPU path decodes
    it and records the damage. The header's segments are walked to the image's first scan (a
    thumbnail inside the header has its own end marker); entropy-coded data never holds an end
    marker, so one after that scan closes the image."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xDA:
            return data.rfind(b"\xff\xd9") > pos
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


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


def shrink(pixels: torch.Tensor, orientation: int, size: tuple[int, int]) -> torch.Tensor:
    """A decoded (3, H, W) uint8 image, as stored -> float pixels (0-255) averaged over square blocks
    as the CPU path shrinks it: libjpeg's reduced-scale decoding (1/2, 1/4 or 1/8, the most that
    keeps the upright image at least `size` (h, w)), then `Image.reduce` by the whole factor still
    left. Every later step then reads a small image: the resize filter and the hash's pooling over a
    full 12 MP photo cost milliseconds each on a GPU."""
    th, tw = size if orientation < 5 else size[::-1]
    h, w = pixels.shape[-2:]
    most = min(w // tw, h // th)
    scale = next((s for s in (8, 4, 2) if most >= s), 1)
    rest = min(-(-w // scale) // tw, -(-h // scale) // th)
    factor = scale * rest if rest >= 2 else scale
    image = pixels.float()
    return F.avg_pool2d(image[None], factor)[0] if factor >= 2 else image


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
    """An upright (3, H, W) image (0-255) -> the model's (3, h, w) normalised input, on its device:
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


def perceptual_hashes(images: Sequence[torch.Tensor]) -> list[int]:
    """engine.phash's 64-bit pHash of upright (3, H, W) images (0-255), computed where they lie, with
    one transfer back for all of them: grey levels, area-averaged to 32x32, the 8x8 lowest 2-D DCT
    coefficients against their median."""
    from .phash import _DCT as dct_matrix
    from .phash import _KEEP, _SIDE, _WEIGHTS

    device = images[0].device
    key = str(device)
    if key not in _DCT:
        _DCT[key] = torch.from_numpy(dct_matrix).to(device, torch.float64)
    dct = _DCT[key]
    weights = torch.tensor(_GREY, device=device, dtype=torch.float32).view(3, 1, 1)
    small = torch.stack(
        [
            F.adaptive_avg_pool2d((image.float() * weights).sum(dim=0)[None, None], (_SIDE, _SIDE))[0, 0]
            for image in images
        ]
    ).double()
    low = (dct @ small @ dct.T)[:, :_KEEP, :_KEEP].reshape(len(images), -1).cpu().numpy()
    bits = (low > np.median(low, axis=1, keepdims=True)).astype(np.uint64)
    assert bits.shape[1] == BITS
    return [int(np.int64(np.sum(row * _WEIGHTS, dtype=np.uint64))) for row in bits]
