"""What is trainable, and differentiable forward passes of the towers (the engine's Encoder runs
under inference_mode; training needs gradients).

Modes:
- "names" (the default): only the token embeddings of the words in the tags learn (a textual
  inversion of the user's names); every other text, so every generic query, encodes exactly as
  before, and the image tower stays fixed.
- "text": the image tower stays fixed; the last `text_blocks` text blocks, ln_final and the text
  projection learn (LiT). Image features are computed once; the text blocks before the first
  trainable one are run once per text and cached.
- "lora": low-rank updates (rank r) on every attention and MLP matrix of both towers, plus
  ln_final and the text projection. Merged into the weights afterwards.
- "full": everything except the token and position embeddings and the logit scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import Tensor, nn
from torch.nn.utils import parametrize

from engine import forward
from engine.errors import ViewfinderError

TUNE_MODES = ("names", "text", "lora", "full")
TEXT_SIDE_MODES = ("names", "text")


class LoRA(nn.Module):
    """A parametrisation W -> W + (B @ A) * alpha / r; B starts at zero so training starts at W."""

    def __init__(self, weight: Tensor, rank: int, alpha: float):
        super().__init__()
        out_features, in_features = weight.shape
        self.a = nn.Parameter(torch.randn(rank, in_features, dtype=weight.dtype) / in_features**0.5)
        self.b = nn.Parameter(torch.zeros(out_features, rank, dtype=weight.dtype))
        self.scale = alpha / rank

    def forward(self, weight: Tensor) -> Tensor:
        return weight + (self.b @ self.a) * self.scale


class RowDelta(nn.Module):
    """A parametrisation W -> W with `rows` shifted by a learnt delta (zero at first): only those
    vocabulary rows learn, and the optimiser touches a few rows, not the whole vocabulary."""

    def __init__(self, weight: Tensor, rows: Sequence[int]):
        super().__init__()
        self.rows: Tensor
        self.register_buffer("rows", torch.tensor(sorted(set(rows)), dtype=torch.long))
        self.delta = nn.Parameter(torch.zeros(len(self.rows), weight.shape[1], dtype=weight.dtype))

    def forward(self, weight: Tensor) -> Tensor:
        return weight.index_add(0, self.rows, self.delta)


def _lora_targets(model: nn.Module) -> list[tuple[nn.Module, str]]:
    targets: list[tuple[nn.Module, str]] = []
    for module in model.modules():
        if isinstance(module, ResidualAttentionBlock):
            attn: Any = module.attn
            mlp: Any = module.mlp
            targets += [(attn, "in_proj_weight"), (attn.out_proj, "weight")]
            targets += [(mlp.c_fc, "weight"), (mlp.c_proj, "weight")]
    return targets


def make_trainable(
    model: nn.Module,
    mode: str,
    *,
    text_blocks: int = 2,
    lora_rank: int = 8,
    lora_alpha: float = 16.0,
    token_ids: Sequence[int] = (),
) -> list[nn.Parameter]:
    """Freeze `model` except what `mode` trains (adding LoRA parametrisations for "lora"); returns
    the parameters to optimise. The model is changed in place: pass a copy. `token_ids`: for
    "names", the vocabulary rows that learn (the other rows get no gradient, so with no weight
    decay they stay bit-identical)."""
    if mode not in TUNE_MODES:
        raise ViewfinderError(f"Unknown tuning mode {mode!r}; choose one of {', '.join(TUNE_MODES)}.")
    m: Any = model
    if not hasattr(m, "transformer") or not hasattr(m, "ln_final"):
        raise ViewfinderError("Fine-tuning needs an open_clip CLIP model with a causal text transformer.")
    model.requires_grad_(False)
    head = [m.ln_final.weight, m.ln_final.bias]
    if isinstance(m.text_projection, nn.Parameter):
        head.append(m.text_projection)
    elif isinstance(m.text_projection, nn.Module):
        head += list(m.text_projection.parameters())
    if mode == "names":
        if not token_ids:
            raise ViewfinderError("Tuning names needs the token ids of the tags' words.")
        rows = RowDelta(m.token_embedding.weight, token_ids)
        parametrize.register_parametrization(m.token_embedding, "weight", rows)
        return [rows.delta]
    if mode == "text":
        blocks = m.transformer.resblocks
        count = max(0, min(text_blocks, len(blocks)))
        params = [p for block in list(blocks)[len(blocks) - count :] for p in block.parameters()] + head
    elif mode == "full":
        frozen = {id(m.token_embedding.weight), id(m.positional_embedding), id(m.logit_scale)}
        if getattr(m, "logit_bias", None) is not None:
            frozen.add(id(m.logit_bias))
        params = [p for p in model.parameters() if id(p) not in frozen]
    else:
        params = list(head)
        for module, name in _lora_targets(model):
            weight = getattr(module, name)
            parametrize.register_parametrization(module, name, LoRA(weight.detach(), lora_rank, lora_alpha))
            lora: Any = module.parametrizations[name][0]  # type: ignore[index]
            params += [lora.a, lora.b]
    for p in params:
        p.requires_grad_(True)
    return params


def merge_lora(model: nn.Module) -> None:
    """Fold LoRA parametrisations into plain weights (no-op without any)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            names: Any = module.parametrizations
            for name in list(names.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)


def first_trainable_text_block(model: nn.Module) -> int:
    """Index of the first text block with anything trainable (len(blocks) when none is)."""
    blocks = list(model.transformer.resblocks)  # type: ignore[union-attr, arg-type]
    for i, block in enumerate(blocks):
        if any(p.requires_grad for p in block.parameters()):
            return i
    return len(blocks)


class TextSide:
    """Differentiable text features for a fixed list of texts, with the frozen prefix cached.

    `features(indices)` returns (pooled (M, D), tokens (M, L, D), mask (M, L)), all unit vectors;
    `mask` marks the content tokens (not start, end or padding). Pooling takes the end-of-text
    token, as open_clip's CLIP.encode_text does, so the pooled vectors match search's text vectors.
    """

    def __init__(self, model: nn.Module, ids: Tensor, eot_positions: Tensor):
        self.model: Any = model
        transformer: Any = self.model.transformer
        if not transformer.batch_first:
            raise ViewfinderError("Fine-tuning needs a batch-first text transformer.")
        self.eot = eot_positions
        self.length = int(eot_positions.max()) + 1
        self.ids = ids[:, : self.length]
        positions = torch.arange(self.length)[None]
        self.mask = (positions > 0) & (positions < eot_positions[:, None])
        embedding: Any = self.model.token_embedding
        embeddings_learn = parametrize.is_parametrized(embedding) or bool(embedding.weight.requires_grad)
        self.start = 0 if embeddings_learn else first_trainable_text_block(model)
        with torch.no_grad():
            self.prefix = self._run(self._embed(self.ids), 0, self.start)

    def _embed(self, ids: Tensor) -> Tensor:
        return forward.embed_text(self.model, ids)

    def _run(self, x: Tensor, start: int, stop: int) -> Tensor:
        return forward.run_text_blocks(self.model, x, start, stop)

    def features(self, indices: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        sel = torch.arange(len(self.ids)) if indices is None else indices
        m = self.model
        embedding: Any = m.token_embedding
        if self.start == 0 and (parametrize.is_parametrized(embedding) or embedding.weight.requires_grad):
            x = self._embed(self.ids[sel])
        else:
            x = self.prefix[sel]
        x = m.ln_final(self._run(x, self.start, len(m.transformer.resblocks)))
        x = forward.project_text(m, x)
        pooled = x[torch.arange(len(sel)), self.eot[sel]]
        return F.normalize(pooled, dim=-1), F.normalize(x, dim=-1), self.mask[sel]


def image_features(model: nn.Module, pixels: Tensor, *, tokens: bool) -> tuple[Tensor, Tensor | None]:
    """Image vectors (N, D) and, with `tokens`, patch vectors (N, P, D), unit length, with
    gradients: the engine's forward pass (engine/forward.py), as the encoder runs it."""
    if not tokens:
        return forward.image_vectors(model, pixels), None
    return forward.image_tokens(model, pixels)


def weight_deltas(model: nn.Module, base_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """tuned - base for every state-dict entry that training changed (merge LoRA first)."""
    out = {}
    for name, value in model.state_dict().items():
        base = base_state[name]
        if value.dtype.is_floating_point and not torch.equal(value, base):
            out[name] = (value.detach().float() - base.float()).contiguous()
    return out
