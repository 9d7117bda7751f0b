"""Personal tags on held-out personal worlds: instant and trained, against baselines, side by side.

    PYTHONPATH=. python benchmarks/personal_tags.py [--seeds 101 102 103] [--threads 1] [--coarse]
        [--tagged 30] [--generic 100]

For each seed and scenario (one name; three names) it builds a world (tests/personal_world.py), a
library with the tiny model pretrained on scene pairs (tests/fixtures/pretrain_tiny.py, PAIRS; with
--coarse, PAIRS_COARSE: 16-pixel patches, a 4 x 4 grid), tags --tagged photos a name (30: the
issue's case; 3 to 10 is how many a user tags first) among --generic generic scenes (100; a
user's library holds thousands), and prints the
mean AP of the names over the untagged photos:
  text only        the base model's text query, no adaptation
  prototype        cosine to the mean of the tagged photos' vectors
  linear probe     a probe fitted on tagged vs library vectors, no text
  probe on answers a probe fitted on the answers themselves (in-sample: it overstates what
                   stored vectors allow)
  supervised, cross-fitted  each half of the library scored by a probe that knew the other
                   half's answers and negatives (a fairer reference for stored vectors)
  instant          Viewfinder's search right after `viewfinder tag`, which looks at the photos
                   most like each name up close (Library.look_closer: crops of the tag's likeliest
                   photos, mixed in beside probe + cache + window cache + text)
  instant, before the closer look  the same right after the tags were stored (--no-closer-look;
                   in the app, until its background look ends)
  instant, global vectors only  the same without the window cache over the photos' patch grids
                   (the scorer before grids were kept)
  instant, tags without boxes  the same photos tagged without highlight boxes (the window cache
                   locates the tagged object itself), and beside it the global vectors only (what
                   a tag without boxes got before), and the pointing game after --token-loss, whose
                   targets are then the located boxes
  plain fine-tune  `train --tune text` with the earlier defaults (last text blocks, lr 1e-4)
  trained          Viewfinder's search after `viewfinder train` with its defaults
  trained, in-sample text trust  the same with the trained name's text trusted as much as it
                   separates its own tagged photos (the behaviour before held-out trust)
and the generic-query mAP before and after, the pointing game of the name (the base model's own map
of the word; the tag map the app shows beside it, from the window cache, before any training; the
model's map after training with and without --token-loss; without it, also the map the app shows
for such a version: ClearCLIP's, as for any model not trained to align words with regions), and
whether rollback restored the results exactly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from fixtures.pretrain_tiny import PAIRS, PAIRS_COARSE, Recipe, pretrained_weights  # noqa: E402


def run(
    seed: int, names: list[str], recipe: Recipe = PAIRS, tagged: int = 30, generic: int = 100
) -> dict[str, float]:
    from personal_bench import (
        build_library,
        generic_map,
        instant_measures,
        pointing_game,
        search_ap_with_in_sample_trust,
        search_ap_without_windows,
    )
    from personal_world import make_concepts, personal_world

    from engine.config import ModelSpec
    from engine.encoder import Encoder
    from engine.library import Library
    from engine.search import Query
    from trainer import versions
    from trainer.train import TrainConfig, train

    encoder = Encoder.load(ModelSpec(str(recipe.config_path), str(pretrained_weights(recipe))), "cpu")
    world = personal_world(make_concepts(names, seed), seed=seed, tagged=tagged, generic=generic)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        libraries: list[Library] = []

        def make() -> Library:
            libraries.append(Library(Path(tmp) / f"lib{len(libraries)}", encoder=encoder))
            return libraries[-1]

        wl = build_library(world, Path(tmp), make)
        query = Query(text="red circle", k=50)
        base_hits = [(h.path, h.score) for h in wl.library.search(query)]
        instant = instant_measures(wl)
        out.update({k: v for k, v in instant.items() if k != "search"})
        out["instant, before the closer look"] = instant["search"]
        out["instant, global vectors only"] = search_ap_without_windows(wl)
        began = time.monotonic()
        for name in names:
            wl.library.look_closer(name)
        out["closer look seconds"] = time.monotonic() - began
        out["instant"] = instant_measures(wl)["search"]
        out["generic mAP before"] = generic_map(wl)
        out["pointing, base model"] = sum(pointing_game(wl, n) for n in names) / len(names)
        out["pointing, base model, the map the app shows"] = sum(
            pointing_game(wl, n, clearclip=True) for n in names
        ) / len(names)
        out["pointing, tag map"] = sum(pointing_game(wl, n, tags=True) for n in names) / len(names)

        began = time.monotonic()
        plain = train(wl.library, TrainConfig(tune="text", steps=0, learning_rate=1e-4, force=True))
        out["plain fine-tune"] = instant_measures(wl)["text only"]
        out["plain fine-tune generic mAP"] = generic_map(wl)
        versions.rollback(wl.library)
        del plain

        began = time.monotonic()
        result = train(wl.library, TrainConfig())
        out["train seconds"] = time.monotonic() - began
        trained = instant_measures(wl)
        out["trained"] = trained["search"]
        out["trained, global vectors only"] = search_ap_without_windows(wl)
        out["trained text only"] = trained["text only"]
        out["trained, in-sample text trust"] = search_ap_with_in_sample_trust(wl)
        trusts = versions.get_version(wl.library, result.version).metrics["text_trust"] if result.version else {}
        out["held-out text trust"] = sum(trusts.values()) / max(1, len(trusts))
        out["generic mAP after"] = generic_map(wl)
        out["switched on"] = float(result.activated)
        out["gate AP before"], out["gate AP after"] = result.before.ap, result.after.ap
        if result.activated:
            versions.rollback(wl.library)
        # The heatmaps of trained names, with and without token loss, switched on whatever the gate
        # says (with few tagged photos it may keep a version off: `model use` switches it on).
        for label, token_loss in (("no token loss", False), ("token loss", True)):
            train(wl.library, TrainConfig(token_loss=token_loss, force=True))
            out[f"pointing, {label}"] = sum(pointing_game(wl, n) for n in names) / len(names)
            if not token_loss:  # the app shows such a version's ClearCLIP map, not its raw tokens'
                shown = sum(pointing_game(wl, n, clearclip=True) for n in names) / len(names)
                out["pointing, no token loss, the map the app shows"] = shown
            versions.rollback(wl.library)
        out["rollback exact"] = float([(h.path, h.score) for h in wl.library.search(query)] == base_hits)
        bare = build_library(world, Path(tmp) / "without-boxes", make, highlights=False)
        for name in names:
            bare.library.look_closer(name)
        out["instant, tags without boxes"] = instant_measures(bare)["search"]
        out["instant, tags without boxes, global vectors only"] = search_ap_without_windows(bare)
        train(bare.library, TrainConfig(token_loss=True, force=True))
        out["pointing, token loss, tags without boxes"] = sum(pointing_game(bare, n) for n in names) / len(names)
        for library in libraries:
            library.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--coarse", action="store_true", help="the tiny model with 16-pixel patches (a 4 x 4 grid)")
    parser.add_argument("--names", type=int, nargs="+", default=[1, 3], help="scenarios: how many names")
    parser.add_argument("--tagged", type=int, default=30, help="photos tagged with each name")
    parser.add_argument("--generic", type=int, default=100, help="generic scenes in the library")
    args = parser.parse_args()
    # A private cache of exported graphs: one keyed by the weights' path and size would serve a
    # re-made fixture of the same size from an earlier export.
    from benchmarks.scratch import private_cache

    private_cache()
    import torch

    torch.set_num_threads(args.threads)
    rows: dict[str, list[float]] = {}
    for count in args.names:
        names = ["rex", "zorp", "mibble"][:count]
        for seed in args.seeds:
            result = run(seed, names, PAIRS_COARSE if args.coarse else PAIRS, args.tagged, args.generic)
            label = f"{len(names)} name(s), seed {seed}"
            print(label + ": " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()), flush=True)
            for k, v in result.items():
                rows.setdefault(f"{len(names)} name(s): {k}", []).append(v)
    print("\nmeans over seeds (the machine is shared and loaded: seconds are indicative only)")
    for k, values in rows.items():
        print(f"  {k:45s} {sum(values) / len(values):.3f}  ({', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
