"""Patch-word heatmaps: where in a photo each word of a text (and the whole text) is seen.

One forward pass of the image tower gives a vector per patch in the joint space; a word's map is
the cosine of every patch with that word's vector, laid out on the patch grid. For pretrained CLIP
models the patches come from ClearCLIP's variant of the last block (METHODS.md), which localises
far better than raw patch tokens; a model fine-tuned with token-level alignment (FILIP) is used as
it is, with `clearclip=False`.

The whole upright photo is squashed to the model's input size (no centre crop), so the grid covers
the entire photo and cell (0, 0) is its top-left corner. Squashing distorts aspect ratios a little,
which CLIP tolerates well; a crop would leave the photo's sides without any map, and tiling would
cost a forward pass per tile.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # the encoder pulls in torch; only what encodes needs it
    from .encoder import Encoder
    from .tag_windows import WindowScorer

# Small English stop-word list: function words whose maps carry no "where" (a, of, the, ...).
# fmt: off
STOP_WORDS = frozenset([
    "a", "an", "the", "and", "or", "but", "nor", "of", "in", "on", "at", "to", "from", "by", "with",
    "without", "for", "into", "onto", "over", "under", "above", "below", "near", "beside", "between",
    "behind", "through", "up", "down", "out", "off", "about", "as", "is", "are", "was", "were", "be",
    "been", "being", "am", "has", "have", "had", "do", "does", "did", "this", "that", "these", "those",
    "it", "its", "it's", "there", "here", "some", "any", "my", "your", "his", "her", "our", "their",
    "me", "him", "us", "them", "i", "you", "he", "she", "we", "they", "what", "which", "who", "whom",
    "whose", "where", "when", "how", "while", "than", "then", "so", "very", "too", "just", "not", "no",
    "yes", "all", "each", "both", "few", "more", "most", "other", "such", "only", "own", "same", "can",
    "will", "should", "would", "could", "may", "might", "must", "s", "t"
])
# fmt: on


@dataclass(frozen=True)
class Heatmap:
    """Alignment maps of one photo with one text.

    words: the text's words in order (stop words left out unless asked for), each a key of maps.
    grid: (rows, cols) of the patch grid.
    maps: word -> (rows, cols) float32 cosines between each patch and the word's vector.
    text_map: (rows, cols) cosines between each patch and the whole text's vector.
    image_size: (width, height) of the upright photo the maps cover; cell (0, 0) is its top-left.
    tag_maps: word -> (rows, cols) probabilities that the object of the tag the word names is
    there, as the tag's window cache finds it (compute_heatmap's `tags`).
    """

    words: list[str]
    grid: tuple[int, int]
    maps: dict[str, np.ndarray] = field(repr=False)
    text_map: np.ndarray = field(repr=False)
    image_size: tuple[int, int]
    tag_maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_json(self, digits: int = 4) -> dict:
        """The shape `viewfinder heatmap --json` prints."""

        def grid_list(m: np.ndarray) -> list[list[float]]:
            return np.round(m.astype(np.float64), digits).tolist()

        return {
            "words": list(self.words),
            "grid": list(self.grid),
            "maps": {w: grid_list(self.maps[w]) for w in self.words},
            "text_map": grid_list(self.text_map),
            "image_size": list(self.image_size),
            "tag_maps": {w: grid_list(m) for w, m in self.tag_maps.items()},
        }


def squash_input(encoder: Encoder, image: Image.Image) -> Image.Image:
    """The whole image resized to the model's input size, aspect ratio not kept (see module doc)."""
    height, width = encoder.image_size
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size == (width, height):
        return image
    # reducing_gap: a cheap box reduction before the bicubic filter, ~10x faster on 12 MP photos
    # and indistinguishable at this output size.
    return image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)


def whole_words(text: str, pieces: list[tuple[str, list[int]]]) -> list[tuple[str, list[int]]]:
    """Group the tokenizer's words into the text's own, space-separated words.

    The tokenizer makes punctuation and each digit a word of its own ("Canon_40D" is "canon", "_",
    "4", "0", "d"); a person reads one word. Each group is labelled with the text's spelling, minus
    surrounding punctuation. Should the tokenizer have normalised the text differently, its own
    words are kept.
    """
    out: list[tuple[str, list[int]]] = []
    position = 0
    for raw in text.split():
        target = raw.lower()
        joined, indices = "", []
        while position < len(pieces) and len(joined) < len(target):
            piece, piece_indices = pieces[position]
            joined += "".join(piece.split())
            indices += piece_indices
            position += 1
        if joined != target:
            return pieces
        label = raw.strip(string.punctuation)
        if label and indices:
            out.append((label, indices))
    return out if position == len(pieces) else pieces


def word_vectors(
    encoder: Encoder, text: str, *, include_stop_words: bool = False
) -> list[tuple[str, np.ndarray]]:
    """(word, unit vector) for each distinct word of `text`, in order.

    A word split into several BPE pieces gets the mean of its pieces' vectors, re-normalised. A
    repeated word keeps its first occurrence. With every word a stop word ("the"), they are all kept.
    Models without per-token text vectors (bidirectional text towers such as SigLIP's and
    MobileCLIP's, or another tokenizer) give each word the vector of the word as a text of its own.
    """
    if not encoder.supports_word_tokens:
        return _words_as_texts(encoder, text, include_stop_words)
    _, vectors = encoder.text_tokens(text)
    words = whole_words(text, encoder.words(text))
    if not include_stop_words and any(w.lower() not in STOP_WORDS for w, _ in words):
        words = [(w, idx) for w, idx in words if w.lower() not in STOP_WORDS]
    out: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for word, indices in words:
        if word in seen or not indices:
            continue
        seen.add(word)
        vector = vectors[indices].mean(axis=0)
        out.append((word, (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)))
    return out


def _words_as_texts(encoder: Encoder, text: str, include_stop_words: bool) -> list[tuple[str, np.ndarray]]:
    """Each distinct word of `text` (punctuation stripped, stop words left out unless asked for or
    all there is) encoded alone by the text tower."""
    words = list(dict.fromkeys(w for w in (raw.strip(string.punctuation) for raw in text.split()) if w))
    if not include_stop_words and any(w.lower() not in STOP_WORDS for w in words):
        words = [w for w in words if w.lower() not in STOP_WORDS]
    if not words:
        return []
    return list(zip(words, encoder.encode_texts(words), strict=True))


def compute_heatmap(
    encoder: Encoder,
    image: Image.Image,
    text: str,
    *,
    clearclip: bool = True,
    include_stop_words: bool = False,
    tags: Mapping[str, WindowScorer] | None = None,
) -> Heatmap:
    """Maps of `text`'s words and of the whole text over `image` (an upright RGB photo).

    One image forward pass and one short text pass. `clearclip` picks the patch vectors: True for
    pretrained models (training-free ClearCLIP), False for a model tuned with token alignment.
    `tags`: tag text -> its window cache (Library.tag_windows); a word that is such a tag (case
    aside) also gets a tag map, where that cache finds the tag's object (tag_windows.view_map; one more pass
    for the photo's patch grid): a name the model never learnt is found from the first tagged
    photos, while the word's own map stays the model's.
    Raises ViewfinderError when the model has no patch tokens or no per-word vectors.
    """
    batch = encoder.preprocess_image(squash_input(encoder, image))[None]
    _, patches, grid = encoder.image_tokens(batch, clearclip=clearclip)
    tokens = patches[0]  # (P, D)
    words = word_vectors(encoder, text, include_stop_words=include_stop_words)
    maps = {word: (tokens @ vector).reshape(grid) for word, vector in words}
    text_map = (tokens @ encoder.encode_texts([text])[0]).reshape(grid)
    by_fold = {name.casefold(): scorer for name, scorer in (tags or {}).items()}
    named = {word: by_fold[word.casefold()] for word in maps if word.casefold() in by_fold}
    tag_maps = {}
    if named:
        from .tag_windows import view_map

        photo_grid = encoder.encode_images_and_grids(batch)[1]
        if photo_grid is not None:
            tag_maps = {word: view_map(scorer, photo_grid[0], grid) for word, scorer in named.items()}
    return Heatmap([w for w, _ in words], grid, maps, text_map.astype(np.float32), image.size, tag_maps)


# Turbo (Google, 2019), sampled at 16 points; interpolated to 256 entries below. Perceptually
# smoother than jet, and dark ends keep both extremes readable over a photo.
_TURBO_KEYS = np.array(
    [
        [0.190, 0.072, 0.232],
        [0.259, 0.271, 0.696],
        [0.275, 0.447, 0.925],
        [0.244, 0.609, 0.996],
        [0.145, 0.762, 0.892],
        [0.102, 0.878, 0.721],
        [0.262, 0.959, 0.525],
        [0.513, 0.997, 0.297],
        [0.706, 0.985, 0.207],
        [0.863, 0.903, 0.215],
        [0.971, 0.779, 0.223],
        [0.994, 0.624, 0.165],
        [0.955, 0.451, 0.086],
        [0.863, 0.290, 0.031],
        [0.718, 0.153, 0.007],
        [0.480, 0.016, 0.011],
    ]
)


def turbo_palette() -> np.ndarray:
    """(256, 3) uint8 turbo colour map."""
    x = np.linspace(0, 1, len(_TURBO_KEYS))
    t = np.linspace(0, 1, 256)
    channels = [np.interp(t, x, _TURBO_KEYS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1) * 255).astype(np.uint8)


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """`image` with `heatmap` (rows, cols) drawn over it in turbo colours, stretched to its size.

    The map is scaled to its own min..max (hot = the best-aligned region of this photo, not an
    absolute score), upsampled bilinearly to the image, coloured and blended with weight `alpha`.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    values = np.asarray(heatmap, np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"heatmap must be a non-empty 2-D grid, got shape {values.shape}")
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    # Upsample in float ('F' mode) so the bilinear ramps are smooth, then quantise and colour by
    # palette lookup: all in PIL's C code, fast even for 12 MP photos.
    small = Image.fromarray(scaled.astype(np.float32), "F")
    large = small.resize(image.size, Image.Resampling.BILINEAR)
    indices = Image.fromarray(np.clip(np.asarray(large) * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    palette = turbo_palette()
    coloured = Image.merge("RGB", [indices.point(palette[:, c].tolist()) for c in range(3)])
    base = image if image.mode == "RGB" else image.convert("RGB")
    return Image.blend(base, coloured, alpha)
