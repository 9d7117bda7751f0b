"""`viewfinder category ...` (smart albums) and `viewfinder heatmap` (where words are in a photo)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import replace

# -- argument parsing ---------------------------------------------------------------------------


def add_parsers(
    subparsers: argparse._SubParsersAction, add_library_arg: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register the `category` and `heatmap` commands on the main parser's subparsers."""
    p = subparsers.add_parser("category", help="smart albums described in words")
    actions = p.add_subparsers(dest="category_action", metavar="ACTION")
    actions.required = True

    a = actions.add_parser("add", help="create a category")
    a.add_argument("name", metavar="NAME")
    a.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="TEXT",
        help="a description (repeatable; default: NAME)",
    )
    a.add_argument(
        "--not", dest="negatives", action="append", default=[], metavar="TEXT", help="what it is not"
    )
    a.add_argument("--threshold", type=float, metavar="X", help="fixed score threshold (default: automatic)")
    add_library_arg(a)

    a = actions.add_parser("list", help="categories and how many photos each holds")
    a.add_argument("--json", action="store_true", help="print JSON")
    add_library_arg(a)

    a = actions.add_parser("show", help="the photos in a category, best first")
    a.add_argument("name", metavar="NAME")
    a.add_argument("-k", type=int, metavar="N", help="at most N photos (default: all)")
    a.add_argument("--json", action="store_true", help="print JSON")
    add_library_arg(a)

    a = actions.add_parser("remove", help="delete a category (never its photos)")
    a.add_argument("name", metavar="NAME")
    add_library_arg(a)

    p = subparsers.add_parser("heatmap", help="show where each word of a text is in a photo")
    p.add_argument("photo", metavar="PHOTO", help="a photo file (need not be in the library)")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--out", metavar="FILE.png", help="write the photo with the whole text's map over it")
    p.add_argument("--json", action="store_true", help="print the maps as JSON")
    p.add_argument("--stop-words", action="store_true", help="also map words like 'a', 'of', 'the'")
    p.add_argument(
        "--raw-tokens",
        action="store_true",
        help="use the model's own patch tokens instead of ClearCLIP's (the default for a model version "
        "trained with --token-loss)",
    )
    add_library_arg(p)


# -- commands -----------------------------------------------------------------------------------


def cmd_category(args: argparse.Namespace) -> int:
    from app.cli import UsageError, open_library
    from engine.categories import Categories

    if getattr(args, "k", None) is not None and args.k < 1:
        raise UsageError("-k must be at least 1")
    with open_library(args) as library:
        categories = Categories.for_library(library)
        action = args.category_action
        if action == "add":
            category = categories.add(args.name, args.prompt, args.negatives, args.threshold)
            count = categories.membership(category.name).count
            print(f"Added category '{category.name}' ({count} photos).")
        elif action == "remove":
            categories.remove(args.name)
            print(f"Removed category '{args.name}'.")
        elif action == "list":
            _print_list(categories, args.json)
        elif action == "show":
            members = categories.members(args.name, k=args.k)
            if args.json:
                print(json.dumps([{"path": m.path, "score": round(m.score, 6)} for m in members]))
            elif not members:
                print("No photos in this category.")
            for m in members if not args.json else []:
                print(f"{m.score:7.4f}  {m.path}")
    return 0


def _print_list(categories, as_json: bool) -> None:
    """Each category with its count: the one last computed when still current, else computed now
    (which loads the model, once)."""
    from engine.categories import AUTO_THRESHOLD

    known = categories.known_counts()
    rows = []
    for c in categories.list():
        count = known.get(c.name)
        rows.append(
            {
                "name": c.name,
                "count": categories.membership(c.name).count if count is None else count,
                "prompts": list(c.prompts),
                "negatives": list(c.negatives),
                "threshold": round(AUTO_THRESHOLD if c.threshold is None else c.threshold, 6),
                "automatic": c.threshold is None,
            }
        )
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        print("No categories yet: add one with `viewfinder category add NAME`.")
    for r in rows:
        how = "auto" if r["automatic"] else "set"
        negatives = f"  not: {'; '.join(r['negatives'])}" if r["negatives"] else ""
        print(
            f"{r['name']}: {r['count']} photos (threshold {r['threshold']:.4f} {how})  {'; '.join(r['prompts'])}{negatives}"
        )


def cmd_heatmap(args: argparse.Namespace) -> int:
    from app.cli import UsageError, open_library
    from engine.heatmaps import compute_heatmap, overlay
    from engine.photos import open_image
    from trainer.versions import token_aligned

    if not os.path.isfile(args.photo):
        raise UsageError(f"no such file: {args.photo}")
    if not args.text.strip():
        raise UsageError("give a text to map")
    if args.out and not args.out.lower().endswith(".png"):
        raise UsageError("--out must name a .png file")
    with open_library(args) as library:
        encoder = library.encoder()
        # The overlay needs the full photo; the maps alone only need the model's input size.
        image, meta = open_image(args.photo, min_size=None if args.out else encoder.image_size)
        heatmap = compute_heatmap(
            encoder,
            image,
            args.text,
            clearclip=not (args.raw_tokens or token_aligned(library)),
            include_stop_words=args.stop_words,
            tags=library.tag_windows(args.text),
        )
    heatmap = replace(heatmap, image_size=(meta.width, meta.height))
    if args.out:
        try:
            overlay(image, heatmap.text_map, 0.5).save(args.out, "PNG")
        except OSError as e:
            raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from e
    if args.json:
        print(json.dumps(heatmap.to_json()))
    elif not args.out:
        rows, cols = heatmap.grid
        lines = [(w, heatmap.maps[w]) for w in heatmap.words]
        lines += [(f"{w} · your tag", m) for w, m in heatmap.tag_maps.items()]
        for label, grid in [*lines, (f'"{args.text}"', heatmap.text_map)]:
            r, c = divmod(int(grid.argmax()), cols)
            print(
                f"{label}: strongest at row {r + 1}/{rows}, column {c + 1}/{cols} ({float(grid.max()):.3f})"
            )
    return 0


COMMANDS = {"category": cmd_category, "heatmap": cmd_heatmap}
