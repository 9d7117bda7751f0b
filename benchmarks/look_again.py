"""What a closer look at a tag costs again after a small change, side by side with the first look.

    PYTHONPATH=. python benchmarks/look_again.py [--model ViT-B-32] [--seed 213] [--threads 2]

A world of personal tags (tests/personal_world.py: 30 photos tagged "rex" with highlight boxes,
its look-alikes and 100 generic scenes) is indexed with --model (ViT-B-32 at random init costs
what a user's pretrained one does; `tiny` is the tests' pretrained tiny model), and then timed:
  first look       Library.look_closer("rex") right after tagging, nothing kept from before
  one more tagged  the same after one untagged photo of rex is tagged too
  renamed          the same after `tags rename rex "rex the dog"`
  from nothing     the renamed tag again with the kept cut-outs deleted (what every look cost
                   before engine/cut_cache.py kept them)
Each line prints the seconds, the cut-outs encoded and the ratio to the first look.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from fixtures.pretrain_tiny import PAIRS, pretrained_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="ViT-B-32", help="an open_clip architecture (random init), or tiny"
    )
    parser.add_argument("--seed", type=int, default=213)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    from personal_bench import build_library
    from personal_world import make_concepts, personal_world

    from benchmarks.scratch import private_cache
    from engine.config import ModelSpec
    from engine.encoder import Encoder
    from engine.library import Library
    from engine.tags import add_tag, rename_tag

    private_cache()
    torch.set_num_threads(args.threads)
    if args.model == "tiny":
        spec = ModelSpec(str(PAIRS.config_path), str(pretrained_weights(PAIRS)))
    else:
        spec = ModelSpec(args.model, None)
    encoder = Encoder.load(spec, "cpu")
    encoded = [0]
    encode = encoder.encode_images_and_grids

    def counted(batch):  # type: ignore[no-untyped-def]
        encoded[0] += len(batch)
        return encode(batch)

    world = personal_world(make_concepts(["rex"], args.seed), seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        wl = build_library(world, Path(tmp), lambda: Library(Path(tmp) / "library", encoder=encoder))
        library = wl.library
        encoder.encode_images_and_grids = counted  # type: ignore[method-assign]
        rows = []

        def look(label: str, text: str) -> None:
            encoded[0] = 0
            began = time.perf_counter()
            check = library.look_closer(text)
            rows.append(
                (label, time.perf_counter() - began, encoded[0], check.summary(text) if check else "-")
            )

        look("first look", "rex")
        untagged = next(p for p, photo in zip(wl.paths, world.library, strict=True) if photo.concept == "rex")
        add_tag(library.store, untagged, "rex")
        look("one more tagged", "rex")
        rename_tag(library.store, "rex", "rex the dog")
        look("renamed", "rex the dog")
        for kept in (library.path / "close-ups").glob("*-cut-outs.npz"):
            kept.unlink()
        stage, _ = library.tag_stage()
        stage.keep_close_ups("rex the dog", None)
        look("from nothing", "rex the dog")
        library.close()
    print(f"{args.model} on cpu ({args.threads} threads), {len(world.library) + 30} photos, seed {args.seed}")
    first = rows[0][1]
    for label, seconds, count, summary in rows:
        print(
            f"  {label:16s} {seconds:6.1f} s  x{seconds / first:5.2f}  {count:5d} cut-outs encoded  {summary}"
        )


if __name__ == "__main__":
    main()
