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
from open_clip.modified_resnet import AttentionPool2d, ModifiedResNet
from open_clip.timm_model import TimmModel
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import Tensor, nn

from engine.errors import ViewfinderError


def image_vectors(model: nn.Module, pixels: Tensor) -> Tensor:
    """(N, 3, H, W) preprocessed pixels -> (N, D) unit image vectors."""
    visual: Any = model.visual  # type: ignore[union-attr]
    return F.normalize(visual(pixels).float(), dim=-1)


def reparameterize(model: nn.Module) -> nn.Module:
    """Fuse the training-time branches of re-parameterisable timm towers (MobileCLIP's FastViT and
    MobileOne blocks) into single convolutions, in place: the same function in eval mode at a
    fraction of the cost. A no-op for every other tower."""
    visual: Any = getattr(model, "visual", None)
    if isinstance(visual, TimmModel) and any(
        hasattr(m, "reparameterize") for m in visual.trunk.modules() if m is not visual.trunk
    ):
        from timm.utils.model import reparameterize_model

        reparameterize_model(visual.trunk, inplace=True)
    return model


def _timm_patch_kind(visual: Any) -> str | None:
    """How a timm tower's patches enter the joint space: "map" (SigLIP's attention-pool head, each
    patch pooled alone), "token" (class-token ViTs: the head on each patch), "conv" (FastViT: the
    linear classifier on each location, whose mean is the average-pooled vector); None otherwise."""
    from timm.models.fastvit import FastVit
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    trunk = visual.trunk
    if isinstance(trunk, TimmViT):
        if trunk.global_pool == "map" and trunk.attn_pool is not None:
            return "map"
        if trunk.global_pool in ("token", "avg"):
            return "token"
    if isinstance(trunk, FastVit) and not trunk.fork_feat:
        head = trunk.head
        if head.global_pool.pool_type == "avg" and isinstance(head.fc, (nn.Linear, nn.Identity)):
            return "conv"
    return None


def has_patch_tokens(model: nn.Module) -> bool:
    """True for image towers whose patches can be projected into the joint space like the pooled
    vector: open_clip ViTs pooled from tokens, OpenAI's ResNets (RN50 and kin) and timm towers
    (SigLIP/SigLIP2, MobileCLIP/2)."""
    visual = getattr(model, "visual", None)
    if isinstance(visual, VisionTransformer):
        return visual.attn_pool is None and visual.pool_type != "none"
    if isinstance(visual, ModifiedResNet):
        return True
    return isinstance(visual, TimmModel) and _timm_patch_kind(visual) is not None


def image_tokens(model: nn.Module, pixels: Tensor, *, clearclip: bool = False) -> tuple[Tensor, Tensor]:
    """Global vectors (N, D) and patch vectors (N, rows*cols, D), unit length, from one pass.

    Patches get the tower's final norm and projection, as the pooled vector does. With
    `clearclip` they come from ClearCLIP's variant of the last block instead (q-q attention on the
    values, no residual, no MLP), which localises far better on pretrained models; the global
    vectors are always the unmodified model's. Convolutional towers have no such block: their
    patches are the same either way."""
    pooled, patches, _ = image_patches(model, pixels, clearclip=clearclip)
    return pooled, patches


def image_patches(
    model: nn.Module, pixels: Tensor, *, clearclip: bool = False
) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """`image_tokens` plus the (rows, cols) grid the patches lie on, row by row."""
    if not has_patch_tokens(model):
        raise ViewfinderError("This model has no patch tokens (its image tower pools them away).")
    visual: Any = model.visual  # type: ignore[union-attr]
    if isinstance(visual, TimmModel):
        pooled, patches, grid = _timm_patches(visual, pixels, clearclip)
    elif isinstance(visual, ModifiedResNet):
        features = visual.forward_intermediates(pixels, indices=1, intermediates_only=True)["image_intermediates"][-1]
        pooled, patches = visual.attnpool(features), attend_alone(visual.attnpool, features)
        grid = (int(features.shape[2]), int(features.shape[3]))
    else:
        out = visual.forward_intermediates(
            pixels, indices=2 if clearclip else 1, output_fmt="NLC", output_extra_tokens=clearclip
        )
        if clearclip:
            before_last = torch.cat([out["image_intermediates_prefix"][0], out["image_intermediates"][0]], dim=1)
            last = clearclip_block(visual.transformer.resblocks[-1], before_last)[:, 1:]
        else:
            last = out["image_intermediates"][-1]
        pooled, patches = out["image_features"], visual.ln_post(last) @ visual.proj
        grid = (int(visual.grid_size[0]), int(visual.grid_size[1]))
    return F.normalize(pooled.float(), dim=-1), F.normalize(patches.float(), dim=-1), grid


# Patch grids kept per photo (engine/storage/grids.py) have at most this many cells a side.
GRID_CELLS = 8


def image_grid(model: nn.Module, pixels: Tensor, cells: int = GRID_CELLS) -> tuple[Tensor, Tensor]:
    """Global vectors (N, D) and the patch grid (N, rows, cols, D), from one pass: the unit patch
    vectors of `image_patches`, averaged onto at most `cells` x `cells` cells (a finer grid is
    average-pooled, each cell over the patches it covers; a coarser one is kept as it is)."""
    pooled, patches, (rows, cols) = image_patches(model, pixels)
    grid = patches.reshape(patches.shape[0], rows, cols, -1)
    if rows > cells or cols > cells:
        pooled_grid = F.adaptive_avg_pool2d(grid.permute(0, 3, 1, 2), (min(rows, cells), min(cols, cells)))
        grid = pooled_grid.permute(0, 2, 3, 1)
    return pooled, grid


def _timm_patches(visual: Any, pixels: Tensor, clearclip: bool) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """Pooled and per-patch outputs (not normalised) of a timm tower, and the patch grid."""
    trunk = visual.trunk
    kind = _timm_patch_kind(visual)
    if kind == "conv":
        final = trunk.forward_features(pixels)  # (N, C, rows, cols)
        pooled = visual.head(trunk.forward_head(final))
        grid = (int(final.shape[2]), int(final.shape[3]))
        return pooled, visual.head(trunk.head.fc(final.flatten(2).transpose(1, 2))), grid
    prefix = trunk.num_prefix_tokens
    # final: (N, prefix + rows*cols, C) after the final norm; before_last: the last block's input
    final, intermediates = trunk.forward_intermediates(
        pixels, indices=2 if clearclip else 1, output_fmt="NLC", return_prefix_tokens=prefix > 0
    )
    tokens = final
    if clearclip:
        before_last = intermediates[0]
        if prefix:
            before_last = torch.cat([before_last[1], before_last[0]], dim=1)
        tokens = trunk.norm(_timm_clearclip_block(trunk.blocks[-1], before_last))
    pooled = visual.head(trunk.forward_head(final))
    patches = tokens[:, prefix:]
    if kind == "map":
        patches = _pool_each(trunk.attn_pool, patches)
    patches = visual.head(trunk.head(trunk.fc_norm(patches)))
    rows, cols = trunk.patch_embed.dynamic_feat_size(pixels.shape[-2:])
    return pooled, patches, (int(rows), int(cols))


def _pool_each(pool: Any, patches: Tensor) -> Tensor:
    """timm's attention-pool head (AttentionPoolLatent) applied to each patch as if it were the only
    token: softmax over one key is 1, so attention returns that patch's value, then the head's
    projection and MLP. Each patch gets the vector a photo made of it alone would be pooled to."""
    if pool.pos_embed is not None:
        patches = patches + pool.pos_embed.unsqueeze(0).to(patches.dtype)
    width = patches.shape[-1]
    x = pool.proj(pool.kv(patches)[..., width:])  # kv holds keys then values
    return x + pool.mlp(pool.norm(x)) if pool.mlp is not None else x


def attend_alone(pool: AttentionPool2d, features: Tensor) -> Tensor:
    """(N, C, rows, cols) -> (N, rows * cols, D): each location of a ResNet's last feature map
    through its attention pool's value and output projections, what the pool returns when every
    head attends to that location alone (MaskCLIP, Zhou et al. 2022; like MaskCLIP, without the
    pool's positional embedding, which would add a fixed offset per location to every heatmap).
    A convolutional tower has no ClearCLIP block: its patches are the same either way."""
    tokens = features.flatten(2).transpose(1, 2)
    return pool.c_proj(pool.v_proj(tokens))


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


def _timm_clearclip_block(block: Any, x: Tensor) -> Tensor:
    """ClearCLIP's last block on a timm ViT block (same recipe as `clearclip_block`)."""
    attn = block.attn
    if not hasattr(attn, "qkv") or getattr(attn, "gate", None) is not None:
        raise ViewfinderError("ClearCLIP heatmaps need timm's standard attention block.")
    n, s, _ = x.shape
    qkv = attn.qkv(block.norm1(x)).reshape(n, s, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, _, v = qkv.unbind(0)
    q = attn.q_norm(q)
    out = F.scaled_dot_product_attention(q, q, v).transpose(1, 2).reshape(n, s, attn.attn_dim)
    return block.ls1(attn.proj(attn.norm(out)))


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
    """pixels -> unit image vectors, as one module to trace for the runtime; for towers with patch
    tokens, (vectors, patch grid) from the same pass (`image_grid`)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.grid = has_patch_tokens(model)

    def forward(self, pixels: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if self.grid:
            return image_grid(self.model, pixels)
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


class FullTextGraph(nn.Module):
    """(N, context) token ids -> unit text vectors of any text tower (bidirectional ones such as
    SigLIP's and MobileCLIP's see the padding too, so the ids are never cut), for the runtime."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> Tensor:
        m: Any = self.model
        return F.normalize(m.encode_text(ids).float(), dim=-1)
