"""The forward pass of an open_clip dual encoder, in one place: global vectors, patch tokens and
word tokens, with or without gradients.

The encoder (inference), the runtime export and the trainer all call these functions, so the
vectors they see are the same computation. Image towers go through open_clip's public
`forward_intermediates`; text towers through the model's public modules (token and position
embeddings, transformer, final norm, projection), cut at the end-of-text token when the tower is
causal (no position sees a later one, so the cut changes nothing and saves most of the work).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import Tensor, nn

from engine.errors import ViewfinderError


def image_vectors(model: nn.Module, pixels: Tensor) -> Tensor:
    """(N, 3, H, W) preprocessed pixels -> (N, D) unit image vectors."""
    visual: Any = model.visual  # type: ignore[union-attr]
    return F.normalize(visual(pixels).float(), dim=-1)


def has_patch_tokens(model: nn.Module) -> bool:
    """True for open_clip ViT image towers pooled from tokens: their patches can be projected into
    the joint space like the pooled vector."""
    visual = getattr(model, "visual", None)
    return isinstance(visual, VisionTransformer) and visual.attn_pool is None and visual.pool_type != "none"


def image_tokens(model: nn.Module, pixels: Tensor, *, clearclip: bool = False) -> tuple[Tensor, Tensor]:
    """Global vectors (N, D) and patch vectors (N, rows*cols, D), unit length, from one pass.

    Patches get the tower's final norm and projection, as the pooled class token does. With
    `clearclip` they come from ClearCLIP's variant of the last block instead (q-q attention on the
    values, no residual, no MLP), which localises far better on pretrained models; the global
    vectors are always the unmodified model's."""
    if not has_patch_tokens(model):
        raise ViewfinderError("This model has no patch tokens (not an open_clip ViT image tower).")
    visual: Any = model.visual  # type: ignore[union-attr]
    out = visual.forward_intermediates(
        pixels, indices=2 if clearclip else 1, output_fmt="NLC", output_extra_tokens=clearclip
    )
    if clearclip:
        before_last = torch.cat([out["image_intermediates_prefix"][0], out["image_intermediates"][0]], dim=1)
        last = clearclip_block(visual.transformer.resblocks[-1], before_last)[:, 1:]
    else:
        last = out["image_intermediates"][-1]
    patches = visual.ln_post(last) @ visual.proj
    return F.normalize(out["image_features"].float(), dim=-1), F.normalize(patches.float(), dim=-1)


def clearclip_block(block: nn.Module, x: Tensor) -> Tensor:
    """ClearCLIP's last block: softmax(q q^T / sqrt(d)) v, out_proj; no residual, no MLP."""
    if not isinstance(block, ResidualAttentionBlock):
        raise ViewfinderError("ClearCLIP heatmaps need open_clip's standard attention block.")
    attn = block.attn
    n, s, width = x.shape
    heads = attn.num_heads
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, _, v = qkv.view(n, s, 3, heads, width // heads).permute(2, 0, 3, 1, 4)  # each (N, heads, S, d)
    out = F.scaled_dot_product_attention(q, q, v)  # keys = queries: the q-q attention
    out = attn.out_proj(out.transpose(1, 2).reshape(n, s, width))
    return block.ls_1(out)


# ----- texts ------------------------------------------------------------------------------------


def is_causal_text(model: nn.Module) -> bool:
    """True for CLIP's causal text tower pooled at the end-of-text token: it can stop there."""
    return (
        isinstance(model, CLIP)
        and getattr(model, "attn_mask", None) is not None
        and model.text_pool_type in ("argmax", "eos")
    )


def pool_positions(model: nn.Module, ids: Tensor) -> Tensor:
    """End-of-text positions (N,), where open_clip pools a causal text tower."""
    m: Any = model
    if getattr(m, "text_pool_type", "argmax") == "eos":
        return (ids == m.text_eos_id).int().argmax(dim=-1)
    return ids.argmax(dim=-1)  # the end-of-text id is the largest id in the vocabulary


def embed_text(model: nn.Module, ids: Tensor) -> Tensor:
    """Token plus position embeddings of (N, L) ids, L at most the context length."""
    m: Any = model
    cast = m.transformer.get_cast_dtype()
    length = ids.shape[1]
    return m.token_embedding(ids).to(cast) + m.positional_embedding[:length].to(cast)


def run_text_blocks(model: nn.Module, x: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
    """Text blocks start..stop on (N, L, width) under the causal mask cut to L."""
    m: Any = model
    length = x.shape[1]
    mask = m.attn_mask[:length, :length]
    for block in list(m.transformer.resblocks)[start:stop]:
        x = block(x, attn_mask=mask)
    return x


def project_text(model: nn.Module, x: Tensor) -> Tensor:
    """The text projection (a matrix, a Linear, or none) applied to the last axis."""
    projection: Any = getattr(model, "text_projection", None)
    if projection is None:
        return x
    if isinstance(projection, nn.Module):
        return projection(x)
    return x @ projection


def text_hidden(model: nn.Module, ids: Tensor) -> Tensor:
    """Projected per-token outputs (N, L, D) of a causal tower on (N, L) ids (not normalised)."""
    m: Any = model
    return project_text(model, m.ln_final(run_text_blocks(model, embed_text(model, ids))))


def text_vectors(model: nn.Module, ids: Tensor) -> Tensor:
    """(N, context) token ids -> (N, D) unit text vectors; causal towers stop at the longest text."""
    m: Any = model
    if not is_causal_text(model):
        return F.normalize(m.encode_text(ids).float(), dim=-1)
    pos = pool_positions(model, ids)
    hidden = text_hidden(model, ids[:, : int(pos.max()) + 1])
    return F.normalize(hidden[torch.arange(hidden.shape[0], device=hidden.device), pos].float(), dim=-1)


# ----- graphs for export --------------------------------------------------------------------------


class ImageGraph(nn.Module):
    """pixels -> unit image vectors, as one module to trace for the runtime."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixels: Tensor) -> Tensor:
        return image_vectors(self.model, pixels)


class TextGraph(nn.Module):
    """(ids cut after the longest text, end-of-text positions) -> unit text vectors of a causal
    tower, as one module to trace for the runtime (the cut length stays dynamic)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, positions: Tensor) -> Tensor:
        hidden = text_hidden(self.model, ids)
        return F.normalize(hidden[torch.arange(hidden.shape[0]), positions].float(), dim=-1)
