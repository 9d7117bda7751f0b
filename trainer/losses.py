"""Contrastive losses for personal fine-tuning: softmax (CLIP), sigmoid (SigLIP), token-wise (FILIP).

Each loss is a small ``nn.Module`` that a training loop receives as an argument; its learnable
temperature (and bias) are parameters of the module, so the loop must hand ``loss.parameters()``
to the optimiser alongside the model's.

Personal tags differ from web pairs in one way that matters: two photos with the same tag in one
batch are positives for each other. Every loss therefore takes an optional ``positives`` matrix
(N images x M texts, True for a matching pair), built with :func:`positives_from_groups`; ``None``
means the classic one-to-one diagonal. Features are used as given: callers L2-normalise them.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SimilarityLoss",
    "SigmoidContrastiveLoss",
    "SoftmaxContrastiveLoss",
    "TokenContrastiveLoss",
    "highlight_loss",
    "positives_from_groups",
    "token_similarity",
]

# Upper bound on the elements of one (N, chunk, P, T) similarity block in token_similarity:
# 2**24 float32 values = 64 MiB, enough for N = M = 64 with 49 patches x 77 words in a few chunks.
_TOKEN_BLOCK_ELEMENTS = 1 << 24


class SimilarityLoss(Protocol):
    """A contrastive loss that can score precomputed similarity matrices (what FILIP needs)."""

    def from_similarities(
        self, image_to_text: Tensor, text_to_image: Tensor, positives: Tensor | None = None
    ) -> Tensor: ...


def positives_from_groups(
    image_groups: Sequence[Hashable],
    text_groups: Sequence[Hashable],
    device: torch.device | str | None = None,
) -> Tensor:
    """Return the (N, M) bool matrix that is True where image i and text j share a group id.

    Group ids are any hashables, typically the tag text: photos tagged "grandma" are all positives of
    every "grandma" text in the batch, and never negatives of each other.
    """
    ids: dict[Hashable, int] = {}
    image_ids = torch.tensor([ids.setdefault(g, len(ids)) for g in image_groups], dtype=torch.long)
    text_ids = torch.tensor([ids.setdefault(g, len(ids)) for g in text_groups], dtype=torch.long)
    return (image_ids[:, None] == text_ids[None, :]).to(device)


def _check_positives(positives: Tensor | None, n: int, m: int, device: torch.device) -> Tensor:
    if positives is None:
        if n != m:
            raise ValueError(f"positives=None needs as many images as texts, got {n} and {m}")
        return torch.eye(n, dtype=torch.bool, device=device)
    if tuple(positives.shape) != (n, m):
        raise ValueError(f"positives has shape {tuple(positives.shape)}, expected {(n, m)}")
    return positives.to(device=device, dtype=torch.bool)


def _check_features(image_features: Tensor, text_features: Tensor) -> None:
    if image_features.ndim != 2 or text_features.ndim != 2:
        raise ValueError(
            f"features must be (N, D) and (M, D), got {tuple(image_features.shape)} "
            f"and {tuple(text_features.shape)}"
        )
    if image_features.shape[1] != text_features.shape[1]:
        raise ValueError(f"feature widths differ: {image_features.shape[1]} vs {text_features.shape[1]}")


class _LogitScale(nn.Module):
    """A temperature t = exp(t'), learnable through its log and clamped to ``max_value``."""

    def __init__(self, init_value: float, max_value: float, learnable: bool):
        super().__init__()
        if not 0 < init_value <= max_value:
            raise ValueError(f"init logit scale {init_value} must be in (0, {max_value}]")
        self.log_max = math.log(max_value)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_value)), requires_grad=learnable)

    def forward(self) -> Tensor:
        # Clamp the parameter itself, as open_clip does after each optimiser step, rather than the
        # value: a clamped value has zero gradient, so a scale that once overshot could never come
        # back down. Only touched when out of range, to leave earlier graphs' saved tensors alone.
        if self.log_scale.detach() > self.log_max:
            with torch.no_grad():
                self.log_scale.clamp_(max=self.log_max)
        return self.log_scale.exp()


class SoftmaxContrastiveLoss(nn.Module):
    """Symmetric InfoNCE (CLIP) with a learnable logit scale, generalised to several positives.

    Logits are ``t * X @ Y.T``. Each image's target is the uniform distribution over its positive
    texts (and each text's over its positive images); the loss is the mean cross-entropy of the
    softmax rows (and columns) against those targets, averaged over both directions. With one-to-one
    positives this is exactly open_clip's ``ClipLoss``. Rows or columns without any positive (an
    image whose tag has no text in the batch) have no target and are left out of their direction.
    """

    def __init__(
        self, init_logit_scale: float = 1 / 0.07, max_logit_scale: float = 100.0, learnable: bool = True
    ):
        super().__init__()
        self._scale = _LogitScale(init_logit_scale, max_logit_scale, learnable)

    @property
    def logit_scale(self) -> Tensor:
        """The current temperature t (after clamping), with gradient to its log-parameter."""
        return self._scale()

    def forward(
        self, image_features: Tensor, text_features: Tensor, positives: Tensor | None = None
    ) -> Tensor:
        """Loss for image features (N, D) against text features (M, D); scalar tensor."""
        _check_features(image_features, text_features)
        similarity = image_features @ text_features.T
        return self.from_similarities(similarity, similarity, positives)

    def from_similarities(
        self, image_to_text: Tensor, text_to_image: Tensor, positives: Tensor | None = None
    ) -> Tensor:
        """Loss from raw (unscaled) similarities, both (N, M): rows of the first score each image
        against all texts, columns of the second each text against all images (FILIP uses two)."""
        if image_to_text.shape != text_to_image.shape or image_to_text.ndim != 2:
            raise ValueError(
                f"similarities must both be (N, M), got {tuple(image_to_text.shape)} "
                f"and {tuple(text_to_image.shape)}"
            )
        n, m = image_to_text.shape
        pos = _check_positives(positives, n, m, image_to_text.device)
        scale = self.logit_scale
        image_loss = _multi_positive_ce(scale * image_to_text, pos)
        text_loss = _multi_positive_ce(scale * text_to_image.T, pos.T)
        losses = [loss for loss in (image_loss, text_loss) if loss is not None]
        if not losses:
            raise ValueError("positives has no True entry: nothing to contrast")
        # With one empty direction, the other still carries the whole signal (not halved).
        return torch.stack(losses).mean()


def _multi_positive_ce(logits: Tensor, positives: Tensor) -> Tensor | None:
    """Mean over rows with a positive of CE(softmax(row), uniform over its positives); None if none."""
    counts = positives.sum(dim=1)
    valid = counts > 0
    if not bool(valid.any()):
        return None
    log_probs = F.log_softmax(logits[valid], dim=1)
    target = positives[valid].to(log_probs.dtype) / counts[valid, None].to(log_probs.dtype)
    # Zero the non-positives before multiplying: a -inf logit there (a pair masked out by the caller)
    # would otherwise give 0 * -inf = NaN.
    per_row = -(target * log_probs.masked_fill(~positives[valid], 0.0)).sum(dim=1)
    return per_row.mean()


class SigmoidContrastiveLoss(nn.Module):
    """SigLIP pairwise loss: ``-1/N * sum_ij log sigmoid(z_ij * (t * x_i . y_j + b))``.

    ``z_ij`` is +1 for positive pairs and -1 otherwise; N is the number of images, as in open_clip's
    ``SigLipLoss``. t = exp(t') starts at ``init_logit_scale`` (10, as in the paper). The bias b
    starts at ``init_bias``; by default ``-log(batch_size_hint - 1)``, which makes the initial
    probability of a pair about the share of positives in a batch. The paper's -10 suits batches of
    tens of thousands; at personal-tuning sizes it would spend the first steps just raising b.
    """

    def __init__(
        self,
        init_logit_scale: float = 10.0,
        init_bias: float | None = None,
        batch_size_hint: int = 32,
        max_logit_scale: float = 100.0,
        learnable: bool = True,
    ):
        super().__init__()
        if init_bias is None:
            if batch_size_hint < 2:
                raise ValueError(f"batch_size_hint must be at least 2, got {batch_size_hint}")
            init_bias = -math.log(batch_size_hint - 1)
        self._scale = _LogitScale(init_logit_scale, max_logit_scale, learnable)
        self.logit_bias = nn.Parameter(torch.tensor(float(init_bias)), requires_grad=learnable)

    @property
    def logit_scale(self) -> Tensor:
        """The current temperature t (after clamping), with gradient to its log-parameter."""
        return self._scale()

    def forward(
        self, image_features: Tensor, text_features: Tensor, positives: Tensor | None = None
    ) -> Tensor:
        """Loss for image features (N, D) against text features (M, D); scalar tensor."""
        _check_features(image_features, text_features)
        return self._loss(image_features @ text_features.T, positives)

    def from_similarities(
        self, image_to_text: Tensor, text_to_image: Tensor, positives: Tensor | None = None
    ) -> Tensor:
        """Loss from raw similarities, both (N, M). A pairwise loss has no direction, so the two
        are averaged into one score per pair (FILIP's s_I and s_T)."""
        if image_to_text.shape != text_to_image.shape:
            raise ValueError(
                f"similarities differ in shape: {tuple(image_to_text.shape)} vs {tuple(text_to_image.shape)}"
            )
        return self._loss((image_to_text + text_to_image) / 2, positives)

    def _loss(self, similarity: Tensor, positives: Tensor | None) -> Tensor:
        if similarity.ndim != 2:
            raise ValueError(f"similarity must be (N, M), got {tuple(similarity.shape)}")
        n, m = similarity.shape
        pos = _check_positives(positives, n, m, similarity.device)
        logits = self.logit_scale * similarity + self.logit_bias
        signs = pos.to(logits.dtype) * 2 - 1
        return -F.logsigmoid(signs * logits).sum() / similarity.shape[0]


def token_similarity(image_tokens: Tensor, text_tokens: Tensor, text_mask: Tensor) -> tuple[Tensor, Tensor]:
    """FILIP late interaction between every image and every text.

    image_tokens (N, P, D), text_tokens (M, T, D), text_mask (M, T) bool with True for real words.
    Returns ``(s_I, s_T)``, both (N, M): ``s_I[i, j]`` is the mean over patches of each patch's best
    real word in text j; ``s_T[i, j]`` is the mean over the real words of text j of each word's best
    patch in image i. Padding words are never picked as a best match and never averaged.
    Work is chunked over texts so the (N, M, P, T) product never materialises at once.
    """
    if image_tokens.ndim != 3 or text_tokens.ndim != 3:
        raise ValueError(
            f"tokens must be (N, P, D) and (M, T, D), got {tuple(image_tokens.shape)} "
            f"and {tuple(text_tokens.shape)}"
        )
    n, p, d = image_tokens.shape
    m, t, d_text = text_tokens.shape
    if d != d_text:
        raise ValueError(f"token widths differ: {d} vs {d_text}")
    if tuple(text_mask.shape) != (m, t):
        raise ValueError(f"text_mask has shape {tuple(text_mask.shape)}, expected {(m, t)}")
    mask = text_mask.to(device=text_tokens.device, dtype=torch.bool)
    if m and not bool(mask.any(dim=1).all()):
        raise ValueError("every text needs at least one unmasked token")

    chunk = max(1, _TOKEN_BLOCK_ELEMENTS // max(1, n * p * t))
    s_image, s_text = [], []
    for start in range(0, m, chunk):
        words = text_tokens[start : start + chunk]
        word_mask = mask[start : start + chunk]  # (c, T)
        sim = torch.einsum("npd,ctd->ncpt", image_tokens, words)  # (N, c, P, T)
        # -inf, not a large negative, so padding can never win a max however the features scale.
        best_word = sim.masked_fill(~word_mask[None, :, None, :], float("-inf")).amax(dim=3)
        s_image.append(best_word.mean(dim=2))
        best_patch = sim.amax(dim=2).masked_fill(~word_mask[None], 0.0)  # (N, c, T), padding zeroed
        s_text.append(best_patch.sum(dim=2) / word_mask.sum(dim=1).to(best_patch.dtype)[None])
    if not s_image:
        empty = image_tokens.new_zeros((n, 0))
        return empty, empty.clone()
    return torch.cat(s_image, dim=1), torch.cat(s_text, dim=1)


class TokenContrastiveLoss(nn.Module):
    """FILIP: a contrastive loss applied to token-wise similarities instead of global dot products.

    Wraps a :class:`SoftmaxContrastiveLoss` (image->text scored with s_I, text->image with s_T) or a
    :class:`SigmoidContrastiveLoss` (pairs scored with (s_I + s_T) / 2), or any module with the
    same ``from_similarities`` method. The wrapped loss's parameters are this module's parameters.
    """

    def __init__(self, loss: nn.Module):
        super().__init__()
        if not callable(getattr(loss, "from_similarities", None)):
            raise TypeError(f"{type(loss).__name__} has no from_similarities(image_to_text, text_to_image)")
        self.loss = loss

    def forward(
        self,
        image_tokens: Tensor,
        text_tokens: Tensor,
        text_mask: Tensor,
        positives: Tensor | None = None,
    ) -> Tensor:
        """Loss for image tokens (N, P, D) against text tokens (M, T, D) with text_mask (M, T)."""
        s_image, s_text = token_similarity(image_tokens, text_tokens, text_mask)
        return self.loss.from_similarities(s_image, s_text, positives)  # type: ignore[operator]


def highlight_loss(
    image_tokens: Tensor, word_vectors: Tensor, masks: Tensor, temperature: float = 0.07
) -> Tensor:
    """Pull a word's patch-alignment map towards a user's highlight of where that word is.

    image_tokens (N, P, D); word_vectors (N, D), the embedding of each sample's highlighted word or
    phrase; masks (N, P) or (N, H, W) with H * W = P, values in [0, 1] over the patch grid. The word's
    distribution over patches, ``softmax(x_k . y / temperature)``, is compared with the mask
    normalised to sum to one by KL(mask || word), averaged over samples. KL rather than
    cross-entropy so a perfect match scores 0 whatever the mask's spread. Samples whose mask is all
    zero carry no target and are skipped; with none left the result is a zero connected to the graph,
    so ``backward()`` still works.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if image_tokens.ndim != 3:
        raise ValueError(f"image_tokens must be (N, P, D), got {tuple(image_tokens.shape)}")
    n, p, d = image_tokens.shape
    if tuple(word_vectors.shape) != (n, d):
        raise ValueError(f"word_vectors has shape {tuple(word_vectors.shape)}, expected {(n, d)}")
    flat = masks.reshape(masks.shape[0], -1) if masks.ndim == 3 else masks
    if tuple(flat.shape) != (n, p):
        raise ValueError(f"masks has shape {tuple(masks.shape)}, expected {(n, p)} or (N, H, W) with H*W={p}")
    flat = flat.to(device=image_tokens.device, dtype=image_tokens.dtype)
    if bool((flat < 0).any()):
        raise ValueError("masks must be non-negative")

    logits = torch.einsum("npd,nd->np", image_tokens, word_vectors) / temperature
    totals = flat.sum(dim=1)
    valid = totals > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    target = flat[valid] / totals[valid, None]
    log_probs = F.log_softmax(logits[valid], dim=1)
    # xlogy gives 0 * log 0 = 0 for patches outside the highlight.
    kl = (torch.xlogy(target, target) - target * log_probs).sum(dim=1)
    return kl.mean()
