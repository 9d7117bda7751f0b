"""Contrastive losses: numeric agreement with open_clip, multi-positive behaviour, FILIP, highlights."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss, SigLipLoss
from torch import Tensor, nn

from trainer import losses
from trainer.losses import (
    SigmoidContrastiveLoss,
    SoftmaxContrastiveLoss,
    TokenContrastiveLoss,
    highlight_loss,
    positives_from_groups,
    token_similarity,
)

AnyLoss = SoftmaxContrastiveLoss | SigmoidContrastiveLoss


def _unit(*shape: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


# --- positives_from_groups -------------------------------------------------------------------------


def test_positives_from_groups_matches_on_identity() -> None:
    got = positives_from_groups(["cat", "dog", "cat"], ["dog", "cat", "bird", "cat"])
    expected = torch.tensor(
        [[False, True, False, True], [True, False, False, False], [False, True, False, True]]
    )
    assert got.dtype == torch.bool
    assert torch.equal(got, expected)


def test_positives_from_groups_does_not_confuse_equal_looking_ids() -> None:
    # 1 and "1" are different tags; a lookup keyed on str() would merge them.
    got = positives_from_groups([1, "1"], ["1"])
    assert got.tolist() == [[False], [True]]
    assert positives_from_groups([], ["a"]).shape == (0, 1)


# --- softmax (CLIP) --------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "scale", "seed"), [(8, 1 / 0.07, 0), (5, 30.0, 1), (16, 100.0, 2)])
def test_softmax_diagonal_equals_open_clip(n: int, scale: float, seed: int) -> None:
    img, txt = _unit(n, 12, seed=seed), _unit(n, 12, seed=seed + 100)
    loss = SoftmaxContrastiveLoss(init_logit_scale=scale).double()
    # open_clip gets the module's own temperature, which holds `scale` to float32 precision.
    assert loss.logit_scale.item() == pytest.approx(scale, rel=1e-6)
    expected = ClipLoss()(img, txt, loss.logit_scale.detach())
    assert loss(img, txt).item() == pytest.approx(expected.item(), abs=1e-6)
    assert loss(img.float(), txt.float()).item() == pytest.approx(expected.item(), abs=1e-5)


def test_softmax_singleton_groups_equal_diagonal() -> None:
    img, txt = _unit(6, 8, seed=3), _unit(6, 8, seed=4)
    loss = SoftmaxContrastiveLoss().double()
    groups = ["a", "b", "c", "d", "e", "f"]
    assert loss(img, txt, positives_from_groups(groups, groups)).item() == pytest.approx(
        loss(img, txt).item(), abs=1e-12
    )
    # Texts in another order: the positives matrix follows the tags, so the loss is unchanged.
    order = [3, 0, 5, 1, 4, 2]
    shuffled = loss(img, txt[order], positives_from_groups(groups, [groups[i] for i in order]))
    assert shuffled.item() == pytest.approx(loss(img, txt).item(), abs=1e-12)


def test_softmax_multi_positive_matches_hand_formula() -> None:
    img, txt = _unit(4, 8, seed=5), _unit(3, 8, seed=6)
    pos = positives_from_groups(["a", "a", "b", "z"], ["a", "b", "c"])  # image 3 and text 2: no positive
    loss = SoftmaxContrastiveLoss(init_logit_scale=10.0).double()
    logits = 10.0 * img @ txt.T
    lp_i = logits.log_softmax(dim=1)
    lp_t = logits.T.log_softmax(dim=1)
    image_dir = -(lp_i[0, 0] + lp_i[1, 0] + lp_i[2, 1]) / 3
    text_dir = -((lp_t[0, 0] + lp_t[0, 1]) / 2 + lp_t[1, 2]) / 2
    # rel 1e-6: the scale is a float32 parameter, so exp(log 10) is 10 only to float32 precision.
    assert loss(img, txt, pos).item() == pytest.approx(((image_dir + text_dir) / 2).item(), rel=1e-6)


# --- sigmoid (SigLIP) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "scale", "bias", "seed"), [(8, 10.0, -10.0, 0), (5, 3.0, 0.7, 1), (12, 50.0, -2.4, 2)]
)
def test_sigmoid_diagonal_equals_open_clip(n: int, scale: float, bias: float, seed: int) -> None:
    img, txt = _unit(n, 12, seed=seed), _unit(n, 12, seed=seed + 100)
    loss = SigmoidContrastiveLoss(init_logit_scale=scale, init_bias=bias).double()
    assert loss.logit_scale.item() == pytest.approx(scale, rel=1e-6)
    expected = SigLipLoss()(img, txt, loss.logit_scale.detach(), loss.logit_bias.detach())
    assert loss(img, txt).item() == pytest.approx(expected.item(), abs=1e-6)


def test_sigmoid_normalises_by_image_count() -> None:
    img, txt = _unit(3, 8, seed=7), _unit(5, 8, seed=8)
    pos = positives_from_groups(["a", "b", "c"], ["a", "b", "c", "d", "e"])
    loss = SigmoidContrastiveLoss(init_logit_scale=4.0, init_bias=-1.0).double()
    signs = pos.double() * 2 - 1
    expected = -F.logsigmoid(signs * (4.0 * img @ txt.T - 1.0)).sum() / 3
    assert loss(img, txt, pos).item() == pytest.approx(expected.item(), rel=1e-6)


def test_sigmoid_default_bias_follows_batch_size_hint() -> None:
    assert SigmoidContrastiveLoss().logit_bias.item() == pytest.approx(-math.log(31))
    assert SigmoidContrastiveLoss(batch_size_hint=8).logit_bias.item() == pytest.approx(-math.log(7))
    assert SigmoidContrastiveLoss(init_bias=-10.0).logit_bias.item() == -10.0
    assert SigmoidContrastiveLoss().logit_scale.item() == pytest.approx(10.0)
    with pytest.raises(ValueError):
        SigmoidContrastiveLoss(batch_size_hint=1)


# --- learnable temperature -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [SoftmaxContrastiveLoss, SigmoidContrastiveLoss])
def test_logit_scale_is_learnable_and_clamped_at_100(make: Callable[[], AnyLoss]) -> None:
    loss = make()
    log_scale = next(p for name, p in loss.named_parameters() if "scale" in name)
    assert log_scale.requires_grad
    with torch.no_grad():
        log_scale.fill_(math.log(500.0))  # as if an optimiser step overshot
    img, txt = _unit(4, 8, seed=9).float(), _unit(4, 8, seed=10).float()
    value = loss(img, txt)
    assert loss.logit_scale.item() == pytest.approx(100.0, rel=1e-5)
    value.backward()
    # At the cap the gradient still reaches the parameter, so the scale can come back down.
    assert log_scale.item() == pytest.approx(math.log(100.0))
    assert log_scale.grad is not None and log_scale.grad.abs().item() > 0


def test_softmax_init_scale_is_one_over_007() -> None:
    assert SoftmaxContrastiveLoss().logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-6)


# --- same tag: positives, never negatives ----------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda: SoftmaxContrastiveLoss(), lambda: SigmoidContrastiveLoss(batch_size_hint=4)]
)
def test_same_tag_pair_pulled_together_with_groups_pushed_apart_without(
    make: Callable[[], AnyLoss],
) -> None:
    # Photos 0 and 1 are both tagged "beach"; their texts are the same tag.
    tags = ["beach", "beach", "dog", "cake"]
    g = torch.Generator().manual_seed(11)
    base = 0.1 * torch.randn(4, 4, generator=g, dtype=torch.float64)

    def grad_of_pair(positives: Tensor | None) -> float:
        sim = base.clone().requires_grad_(True)
        make().double().from_similarities(sim, sim, positives).backward()
        assert sim.grad is not None
        return sim.grad[0, 1].item()

    # Negative gradient: gradient descent raises the similarity of photo 0 to text 1 ("beach").
    assert grad_of_pair(positives_from_groups(tags, tags)) < 0
    assert grad_of_pair(None) > 0


def test_grouped_softmax_gradient_pulls_same_tag_photo_features_together() -> None:
    # Features, not similarities: photos 0 and 1 share a tag and get identical texts.
    tags = ["beach", "beach", "dog", "cake"]
    img = _unit(4, 8, seed=12).requires_grad_(True)
    txt = _unit(4, 8, seed=13)
    txt = torch.stack([txt[0], txt[0], txt[2], txt[3]])
    loss = SoftmaxContrastiveLoss().double()
    loss(img, txt, positives_from_groups(tags, tags)).backward()
    assert img.grad is not None
    # One descent step must move photo 1 towards the shared "beach" text.
    step = -img.grad[1]
    assert (step @ txt[1]).item() > 0


# --- FILIP token similarity ------------------------------------------------------------------------


def _brute_token_similarity(img: Tensor, txt: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    n, m = img.shape[0], txt.shape[0]
    s_i = torch.zeros(n, m, dtype=img.dtype)
    s_t = torch.zeros(n, m, dtype=img.dtype)
    for i in range(n):
        for j in range(m):
            words = [txt[j, r] for r in range(txt.shape[1]) if mask[j, r]]
            patches = [img[i, k] for k in range(img.shape[1])]
            s_i[i, j] = sum(max(float(x @ y) for y in words) for x in patches) / len(patches)
            s_t[i, j] = sum(max(float(x @ y) for x in patches) for y in words) / len(words)
    return s_i, s_t


@pytest.mark.parametrize("block", [1 << 24, 1])
def test_token_similarity_matches_brute_force_and_ignores_padding(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(losses, "_TOKEN_BLOCK_ELEMENTS", block)  # 1 forces one text per chunk
    img, txt = _unit(3, 5, 8, seed=14), _unit(4, 6, 8, seed=15)
    lengths = torch.tensor([6, 3, 1, 4])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    # Padding that would win every max and dominate every mean if it were not excluded.
    txt = txt.masked_fill(~mask[..., None], 50.0)
    s_i, s_t = token_similarity(img, txt, mask)
    ref_i, ref_t = _brute_token_similarity(img, txt, mask)
    assert s_i.shape == s_t.shape == (3, 4)
    assert torch.allclose(s_i, ref_i, atol=1e-12)
    assert torch.allclose(s_t, ref_t, atol=1e-12)
    assert s_i.abs().max().item() <= 1.0 + 1e-9  # unit vectors: no padding leaked in


def test_token_similarity_rejects_text_without_words() -> None:
    with pytest.raises(ValueError, match="unmasked"):
        token_similarity(
            _unit(2, 3, 4, seed=0), _unit(2, 2, 4, seed=1), torch.tensor([[True, False], [False, False]])
        )


@pytest.mark.parametrize(
    "make", [lambda: SoftmaxContrastiveLoss(init_logit_scale=20.0), lambda: SigmoidContrastiveLoss()]
)
def test_token_loss_with_one_token_each_equals_global_loss(make: Callable[[], AnyLoss]) -> None:
    img, txt = _unit(6, 8, seed=16), _unit(6, 8, seed=17)
    pos = positives_from_groups(list("aabcdd"), list("aabcdd"))
    base = make().double()
    token_loss = TokenContrastiveLoss(base)
    mask = torch.ones(6, 1, dtype=torch.bool)
    for positives in (None, pos):
        got = token_loss(img[:, None, :], txt[:, None, :], mask, positives)
        assert got.item() == pytest.approx(base(img, txt, positives).item(), abs=1e-12)


def test_token_softmax_uses_s_image_then_s_text_directions() -> None:
    img, txt = _unit(4, 5, 8, seed=18), _unit(4, 3, 8, seed=19)
    mask = torch.tensor([[True, True, True], [True, False, False], [True, True, False], [True, True, True]])
    s_i, s_t = token_similarity(img, txt, mask)
    labels = torch.arange(4)
    expected = (F.cross_entropy(12.0 * s_i, labels) + F.cross_entropy(12.0 * s_t.T, labels)) / 2
    got = TokenContrastiveLoss(SoftmaxContrastiveLoss(init_logit_scale=12.0).double())(img, txt, mask)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert list(TokenContrastiveLoss(SoftmaxContrastiveLoss()).parameters())  # the scale stays learnable


def test_token_loss_rejects_a_loss_without_similarity_entry_point() -> None:
    with pytest.raises(TypeError):
        TokenContrastiveLoss(nn.MSELoss())


# --- highlight loss --------------------------------------------------------------------------------


def _highlight_case() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # 16 patches on a 4x4 grid, each its own direction; the highlight covers patches 0-3 (top row).
    tokens = torch.eye(16, dtype=torch.float64)[None].repeat(2, 1, 1)
    mask = torch.zeros(2, 16, dtype=torch.float64)
    mask[:, 0:4] = 1.0
    aligned = F.normalize(tokens[:, 0:4].sum(dim=1), dim=-1)
    elsewhere = F.normalize(tokens[:, 8:12].sum(dim=1), dim=-1)
    return tokens, mask, aligned, elsewhere


def test_highlight_loss_lower_when_word_aligns_with_the_highlight() -> None:
    tokens, mask, aligned, elsewhere = _highlight_case()
    good, bad = highlight_loss(tokens, aligned, mask), highlight_loss(tokens, elsewhere, mask)
    assert good.item() < 0.1 < bad.item()
    assert good.item() >= 0.0  # KL: zero only at a perfect match


def test_highlight_loss_has_gradients_towards_the_highlight() -> None:
    tokens, mask, _, elsewhere = _highlight_case()
    tokens.requires_grad_(True)
    word = elsewhere.clone().requires_grad_(True)
    highlight_loss(tokens, word, mask).backward()
    assert word.grad is not None and tokens.grad is not None
    step = -word.grad[0]
    assert step[0:4].min().item() > 0  # descent moves the word towards the highlighted patches
    assert step[8:12].max().item() < 0


def test_highlight_loss_skips_empty_masks_and_accepts_grids() -> None:
    tokens, mask, aligned, elsewhere = _highlight_case()
    words = torch.stack([aligned[0], elsewhere[1]])
    only_first = highlight_loss(tokens[:1], words[:1], mask[:1])
    mask_second_empty = mask.clone()
    mask_second_empty[1] = 0.0
    assert highlight_loss(tokens, words, mask_second_empty).item() == pytest.approx(only_first.item())
    as_grid = highlight_loss(tokens, words, mask.reshape(2, 4, 4))
    assert as_grid.item() == pytest.approx(highlight_loss(tokens, words, mask).item())


def test_highlight_loss_without_any_mask_is_a_differentiable_zero() -> None:
    tokens = _unit(2, 16, 8, seed=20).requires_grad_(True)
    value = highlight_loss(tokens, _unit(2, 8, seed=21), torch.zeros(2, 16))
    assert value.item() == 0.0
    assert value.requires_grad
    value.backward()
    assert tokens.grad is not None and torch.count_nonzero(tokens.grad) == 0


# --- shape errors ----------------------------------------------------------------------------------


def test_diagonal_needs_square_batch_and_positives_need_the_right_shape() -> None:
    img, txt = _unit(3, 8, seed=22), _unit(4, 8, seed=23)
    for loss in (SoftmaxContrastiveLoss().double(), SigmoidContrastiveLoss().double()):
        with pytest.raises(ValueError, match="as many images as texts"):
            loss(img, txt)
        with pytest.raises(ValueError, match="positives has shape"):
            loss(img, txt, torch.ones(4, 3, dtype=torch.bool))


def test_softmax_rejects_positives_without_any_pair() -> None:
    img = _unit(2, 8, seed=24)
    with pytest.raises(ValueError, match="no True"):
        SoftmaxContrastiveLoss().double()(img, img, torch.zeros(2, 2, dtype=torch.bool))


# --- tiny optimisation: each loss learns a toy retrieval problem -----------------------------------

CLASSES, RAW, DIM, PATCHES, WORDS = 8, 24, 16, 4, 3


def _toy_data(seed: int) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "patch_protos": torch.randn(CLASSES, PATCHES, RAW, generator=g),
        "words": F.normalize(torch.randn(CLASSES, WORDS, DIM, generator=g), dim=-1),
        # Each class name has 1-3 real words; the rest is padding.
        "lengths": torch.randint(1, WORDS + 1, (CLASSES,), generator=g),
    }


def _toy_batch(data: dict[str, Tensor], labels: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    raw = data["patch_protos"][labels] + 0.6 * torch.randn(len(labels), PATCHES, RAW, generator=g)
    mask = torch.arange(WORDS)[None, :] < data["lengths"][labels][:, None]
    words = data["words"][labels].masked_fill(~mask[..., None], 3.0)  # garbage padding
    return raw, words, mask


class _Toy:
    """A linear image projection trained against fixed text vectors, global or token-wise."""

    def __init__(self, token_wise: bool):
        torch.manual_seed(0)
        self.proj = nn.Linear(RAW, DIM)
        self.token_wise = token_wise

    def image(self, raw: Tensor) -> Tensor:
        out = F.normalize(self.proj(raw), dim=-1)
        return out if self.token_wise else F.normalize(out.mean(dim=1), dim=-1)

    @staticmethod
    def text(words: Tensor, mask: Tensor) -> Tensor:
        pooled = (words * mask[..., None]).sum(dim=1)
        return F.normalize(pooled, dim=-1)

    def scores(self, raw: Tensor, words: Tensor, mask: Tensor) -> Tensor:
        if self.token_wise:
            s_i, s_t = token_similarity(self.image(raw), words, mask)
            return (s_i + s_t) / 2
        return self.image(raw) @ self.text(words, mask).T

    def loss(self, loss_fn: nn.Module, raw: Tensor, words: Tensor, mask: Tensor, pos: Tensor) -> Tensor:
        if self.token_wise:
            return loss_fn(self.image(raw), words, mask, pos)
        return loss_fn(self.image(raw), self.text(words, mask), pos)


@pytest.mark.parametrize(
    ("make", "token_wise"),
    [
        (lambda: SoftmaxContrastiveLoss(), False),
        (lambda: SigmoidContrastiveLoss(batch_size_hint=16), False),
        (lambda: TokenContrastiveLoss(SoftmaxContrastiveLoss()), True),
        (lambda: TokenContrastiveLoss(SigmoidContrastiveLoss(batch_size_hint=16)), True),
    ],
    ids=["softmax", "sigmoid", "filip-softmax", "filip-sigmoid"],
)
def test_each_loss_learns_toy_retrieval(make: Callable[[], nn.Module], token_wise: bool) -> None:
    data = _toy_data(seed=1)
    toy = _Toy(token_wise)
    loss_fn = make()
    optimiser = torch.optim.Adam([*toy.proj.parameters(), *loss_fn.parameters()], lr=0.02)
    g = torch.Generator().manual_seed(2)

    # Held out: fresh photos of every class, ranked against the one text per class.
    test_labels = torch.arange(CLASSES).repeat(8)
    test_raw, _, _ = _toy_batch(data, test_labels, g)
    _, class_words, class_mask = _toy_batch(data, torch.arange(CLASSES), g)
    eval_labels = torch.randint(0, CLASSES, (16,), generator=g)
    eval_batch = _toy_batch(data, eval_labels, g)
    eval_pos = positives_from_groups(eval_labels.tolist(), eval_labels.tolist())

    def accuracy() -> float:
        with torch.no_grad():
            hits = toy.scores(test_raw, class_words, class_mask).argmax(dim=1) == test_labels
        return hits.double().mean().item()

    def eval_loss() -> float:
        with torch.no_grad():
            return toy.loss(loss_fn, *eval_batch, eval_pos).item()

    loss_before, acc_before = eval_loss(), accuracy()
    for _ in range(100):
        # Batches of 16 from 8 classes: same-tag photos in one batch are the norm.
        labels = torch.randint(0, CLASSES, (16,), generator=g)
        pos = positives_from_groups(labels.tolist(), labels.tolist())
        loss = toy.loss(loss_fn, *_toy_batch(data, labels, g), pos)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    loss_after, acc_after = eval_loss(), accuracy()

    assert loss_after < 0.5 * loss_before, (loss_before, loss_after)
    assert acc_before < 0.6
    assert acc_after > 0.9, (acc_before, acc_after)
