"""The pretrained tiny model fixture knows the generic world: it ranks scenes for generic queries
far better than the same architecture at random init, on scenes it never saw."""

from __future__ import annotations

import numpy as np
import torch
from personal_world import average_precision
from world import generic_scenes


def _generic_map(encoder, scenes) -> float:
    vectors = encoder.encode_images(torch.stack([encoder.preprocess_image(s.image) for s in scenes]))
    answers: dict[str, set[int]] = {}
    for i, scene in enumerate(scenes):
        for t in scene.things:
            answers.setdefault(f"{t.colour} {t.shape}", set()).add(i)
    queries = sorted(q for q, found in answers.items() if len(found) >= 3)
    texts = encoder.encode_texts(queries)
    return float(np.mean([average_precision(vectors @ t, answers[q]) for q, t in zip(queries, texts, strict=True)]))


def test_pretrained_model_knows_generic_concepts(pretrained_encoder, tiny_encoder):
    scenes = generic_scenes(300, seed=12345)  # a seed the pretraining never used
    pretrained, random_init = _generic_map(pretrained_encoder, scenes), _generic_map(tiny_encoder, scenes)
    assert pretrained > random_init + 0.1, (pretrained, random_init)


def test_pair_pretrained_model_knows_generic_concepts(personal_encoder, tiny_encoder):
    scenes = generic_scenes(300, seed=12345)
    pretrained, random_init = _generic_map(personal_encoder, scenes), _generic_map(tiny_encoder, scenes)
    assert pretrained > random_init + 0.1, (pretrained, random_init)
