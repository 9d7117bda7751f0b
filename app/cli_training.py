"""CLI commands for personal tags, fine-tuning and model versions:

viewfinder tag PHOTO TEXT [--highlight "PHRASE=x0,y0,x1,y1"]...
viewfinder tag TEXT --photos PHOTO... | --photos-from FILE (a path a line, each optionally followed
    by tab-separated highlights "PHRASE=x0,y0,x1,y1"; - for stdin)
viewfinder tag --captions FILE (each photo its own text: PATH<TAB>TEXT[<TAB>PHRASE=x0,y0,x1,y1...])
viewfinder untag PHOTO [TEXT]
viewfinder tags [--json]
viewfinder train [--loss sigmoid|softmax] [--token-loss] [--tune names|text|lora|full] [--epochs N] [--json]
viewfinder model list [--json] | model use VERSION [--mix A] | model rollback
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.errors import ViewfinderError
from engine.tags import (
    Highlight,
    TagError,
    add_tag,
    list_tags,
    normalise_text,
    remove_tag_everywhere,
    remove_tags,
    rename_tag,
    tag_texts,
    tags_of,
)

if TYPE_CHECKING:
    from engine.library import Library
    from engine.tag_crops import CloseUpCheck


def _highlight(text: str) -> Highlight:
    phrase, sep, numbers = text.rpartition("=")
    if not sep or not phrase.strip():
        raise argparse.ArgumentTypeError(f'expected "PHRASE=x0,y0,x1,y1", got {text!r}')
    try:
        box = tuple(float(v) for v in numbers.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"the box of {text!r} must be four numbers x0,y0,x1,y1") from None
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"the box of {text!r} must be four numbers x0,y0,x1,y1")
    return Highlight(phrase.strip(), (box[0], box[1], box[2], box[3]))


def _mix(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("the mixing weight must be between 0 and 1")
    return value


def add_parsers(
    sub: argparse._SubParsersAction, add_library_arg: Callable[[argparse.ArgumentParser], None]
) -> None:
    p = sub.add_parser(
        "tag",
        help="attach a tag or caption to photos",
        usage="viewfinder tag PHOTO TEXT [--highlight ...] | viewfinder tag TEXT --photos PHOTO... | "
        "viewfinder tag TEXT --photos-from FILE | viewfinder tag --captions FILE",
    )
    p.add_argument("words", nargs="*", metavar="PHOTO TEXT | TEXT")
    p.add_argument("--photos", nargs="+", default=[], metavar="PHOTO", help="tag all these photos with TEXT")
    p.add_argument(
        "--photos-from",
        metavar="FILE",
        help="tag the photos listed in FILE: one path a line, optionally followed by its highlights, "
        "each after a tab (PATH<TAB>PHRASE=x0,y0,x1,y1); - for stdin",
    )
    p.add_argument(
        "--captions",
        metavar="FILE",
        help="tag each photo listed in FILE with its own text: PATH<TAB>TEXT a line, optionally followed "
        "by its highlights, each after a tab (PATH<TAB>TEXT<TAB>PHRASE=x0,y0,x1,y1); - for stdin",
    )
    p.add_argument(
        "--highlight",
        action="append",
        type=_highlight,
        default=[],
        metavar="PHRASE=x0,y0,x1,y1",
        help="where a phrase of TEXT is: a box in fractions (0..1) of the upright photo, top-left origin",
    )
    _add_closer_look_arg(p)
    add_library_arg(p)

    p = sub.add_parser("untag", help="remove a tag (or all tags) from a photo")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("text", metavar="TEXT", nargs="?")
    _add_closer_look_arg(p)
    add_library_arg(p)

    p = sub.add_parser(
        "tags",
        help="list tags; rename one, or remove one from every photo",
        usage="viewfinder tags [--json] | viewfinder tags rename OLD NEW | viewfinder tags remove TEXT",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_library_arg(p)
    actions = p.add_subparsers(dest="tags_action", metavar="ACTION")
    a = actions.add_parser("rename", help="rename a tag on every photo (merged into NEW where it exists)")
    a.add_argument("old", metavar="OLD")
    a.add_argument("new", metavar="NEW")
    _add_closer_look_arg(a)
    add_library_arg(a)
    a = actions.add_parser("remove", help="remove a tag from every photo (never the photos)")
    a.add_argument("text", metavar="TEXT")
    add_library_arg(a)

    p = sub.add_parser("train", help="fine-tune the model on your tags")
    p.add_argument("--loss", choices=["sigmoid", "softmax"], default="sigmoid")
    p.add_argument("--token-loss", action="store_true", help="word-patch loss; uses highlights")
    p.add_argument(
        "--tune",
        choices=["names", "text", "lora", "full"],
        default="names",
        help="what learns: names (the tags' words; default), text (last text blocks), lora, full",
    )
    p.add_argument("--epochs", type=int, default=10, metavar="N")
    p.add_argument(
        "--lr", type=float, default=None, metavar="RATE", help="learning rate (default per --tune)"
    )
    p.add_argument("--mix", type=_mix, default=1.0, metavar="A", help="weight of the tuned model, 0..1")
    p.add_argument(
        "--force", action="store_true", help="switch the model on even if it is not clearly better"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="cpu")
    add_library_arg(p)

    p = sub.add_parser("model", help="fine-tuned model versions")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    m = msub.add_parser("list", help="list versions")
    m.add_argument("--json", action="store_true", help="print JSON")
    add_library_arg(m)
    m = msub.add_parser("use", help="switch to a version (0: the base model)")
    m.add_argument("version", type=int, metavar="VERSION")
    m.add_argument("--mix", type=_mix, default=None, metavar="A", help="weight of the tuned model, 0..1")
    add_library_arg(m)
    m = msub.add_parser("rollback", help="go back to the model used before")
    add_library_arg(m)


def _add_closer_look_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-closer-look",
        action="store_true",
        help="do not look again at the photos most like each changed tag of 3 or more photos up "
        "close (its searches then use the last look, until the next tag command or the app takes one)",
    )


# -- tags ---------------------------------------------------------------------------------------


def _listed_photos(source: str, text: str | None = None) -> list[tuple[str, str, list[Highlight]]]:
    """(path, text, highlights) from a file (or stdin for "-"), a photo a line: its path, its own
    text unless `text` is given for all, then any highlights of it, each after a tab. Blank lines
    are skipped."""
    try:
        if source == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(source, encoding="utf-8") as f:
                lines = f.read().splitlines()
    except OSError as e:
        raise TagError(f"Cannot read the list of photos {source}: {e.strerror or e}.") from e
    listed = []
    for number, line in enumerate(lines, 1):
        path, *marks = [field.strip() for field in line.split("\t")]
        if not path:
            continue
        own = text if text is not None else (marks.pop(0) if marks else "")
        if not own:
            raise TagError(f"{source}, line {number}: expected PATH<TAB>TEXT, got {line.strip()!r}.")
        try:
            listed.append((path, own, [_highlight(mark) for mark in marks if mark]))
        except argparse.ArgumentTypeError as e:
            raise TagError(f"{source}, line {number}: {e}.") from None
    return listed


def cmd_tag(args: argparse.Namespace) -> int:
    from app.cli import UsageError, open_library

    photos: list[tuple[str, str, list[Highlight]]]
    many, text = True, None  # text: the one text of every photo
    if args.captions is not None:
        if args.words or args.photos or args.photos_from or args.highlight:
            raise UsageError("--captions gives each photo its own text and highlights: use it alone")
        photos = _listed_photos(args.captions)
    elif args.photos or args.photos_from is not None:
        if len(args.words) != 1:
            raise UsageError(
                "with --photos or --photos-from, give only the TEXT: viewfinder tag TEXT --photos PHOTO..."
            )
        if args.highlight:
            raise UsageError(
                "--highlight marks one photo: use viewfinder tag PHOTO TEXT --highlight ..., or give "
                "each photo's highlights in the --photos-from list"
            )
        text = args.words[0]
        photos = [(photo, text, []) for photo in args.photos]
        photos += _listed_photos(args.photos_from, text) if args.photos_from else []
    else:
        if len(args.words) != 2:
            raise UsageError(
                "give a photo and a text (viewfinder tag PHOTO TEXT), or viewfinder tag TEXT --photos PHOTO..."
            )
        many, photos = False, [(args.words[0], args.words[1], args.highlight)]
    if not photos:
        raise TagError(f"No photos listed in {args.captions or args.photos_from}.")
    failed: list[tuple[str, str]] = []
    tagged = highlighted = 0
    texts: set[str] = set()
    with open_library(args) as library:
        for photo, own, highlights in photos:
            try:
                tag = add_tag(library.store, photo, own, highlights)
            except TagError as e:
                if not many:
                    raise
                failed.append((photo, str(e)))
                continue
            tagged += 1
            texts.add(tag.text)
            highlighted += bool(tag.highlights)
            if not many:
                count = len(tag.highlights)
                marks = f" ({count} highlight{'s' if count > 1 else ''})" if count else ""
                print(f"Tagged {tag.paths[0]}: {tag.text}{marks}")
        if many:
            marks = f" ({highlighted} with highlights)" if highlighted else ""
            what = " ".join(text.split()) if text is not None else "each with its caption"
            print(f"Tagged {tagged} photo{'' if tagged == 1 else 's'}: {what}{marks}")
            for photo, reason in failed:
                print(f"Not tagged: {photo}: {reason}", file=sys.stderr)
        if not args.no_closer_look:
            look_closer_at(library, sorted(texts))
    return 1 if failed else 0


def look_closer_at(library: Library, texts: list[str]) -> None:
    """Library.look_closer at each tag of `texts`, with a progress line on a terminal; Ctrl-C
    skips the rest (the tags stand, and search works without the closer look)."""
    from app.cli import _interruptible

    for text in texts:
        line = _CloserLine(text)

        def look(
            cancel: threading.Event, text: str = text, line: _CloserLine = line
        ) -> tuple[CloseUpCheck | None, bool]:
            return library.look_closer(text, line, cancel), cancel.is_set()

        try:
            check, stopped = _interruptible(look)
        except ViewfinderError as e:
            line.close()
            print(f"Did not look closer at “{text}”: {e}", file=sys.stderr)
            return
        line.close()
        if stopped:
            print("Stopped looking closer: the tags stand, and search works without it.", file=sys.stderr)
            return
        if check is not None:
            print(check.summary(text))


class _TerminalLine:
    """One progress line on a terminal; silent elsewhere."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class _CloserLine(_TerminalLine):
    """The progress of looking closer at one tag."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __call__(self, done: int, total: int) -> None:
        if total:
            self.show(f"Looking closer at the photos most like “{self.text}”: {100 * done // total}%   ")


def cmd_untag(args: argparse.Namespace) -> int:
    from app.cli import open_library

    with open_library(args) as library:
        before = {t.text for t in tags_of(library.store, args.photo)}
        removed = remove_tags(library.store, args.photo, args.text)
        print(f"Removed {removed} tag(s) from {os.path.abspath(args.photo)}.")
        if not args.no_closer_look:
            look_closer_at(library, sorted(before - {t.text for t in tags_of(library.store, args.photo)}))
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    from app.cli import open_library

    if args.tags_action is not None:
        return _change_tag(args)
    with open_library(args) as library:
        tags = list_tags(library.store)
    if args.json:
        print(json.dumps([t.to_json() for t in tags]))
        return 0
    if not tags:
        print("No tags yet: add some with `viewfinder tag TEXT --photos PHOTO...`.")
    for t in tags:
        marks = ", ".join(h.phrase for h in t.highlights)
        print(f"{t.text}\t{t.paths[0]}" + (f"\t[{marks}]" if marks else ""))
    return 0


def _change_tag(args: argparse.Namespace) -> int:
    """`tags rename` and `tags remove`: the tag's photos are never touched, and its closer look is
    dropped (a renamed tag's is taken again under its new name)."""
    from app.cli import open_library

    with open_library(args) as library:
        if args.tags_action == "remove":
            count = remove_tag_everywhere(library.store, args.text)
            text = normalise_text(args.text)
            print(f"Removed the tag “{text}” from {_photos(count)}; no photo was changed.")
            look_closer_at(library, [text])
            return 0
        old, new = normalise_text(args.old), normalise_text(args.new)
        merged = new != old and new in tag_texts(library.store)
        count = rename_tag(library.store, old, new)
        into = f", merged into “{new}”" if merged else ""
        print(f"Renamed “{old}” to “{new}” on {_photos(count)}{into}.")
        if new != old:
            look_closer_at(library, [old] + ([] if args.no_closer_look else [new]))
    return 0


def _photos(count: int) -> str:
    return f"{count:,} photo{'' if count == 1 else 's'}"


# -- training -----------------------------------------------------------------------------------


class _TrainLine(_TerminalLine):
    """The progress of training."""

    def __call__(self, p) -> None:
        if p.phase == "training" and p.total:
            eta = f"{int(p.eta) // 60}:{int(p.eta) % 60:02d}" if p.eta is not None else "--:--"
            self.show(f"Training: step {p.step}/{p.total}  loss {p.loss:.4f}  time left {eta}   ")
        elif p.phase == "close-ups" and p.total:
            self.show(f"Looking at the tags' likeliest photos up close: {100 * p.step // p.total}%   ")
        else:
            self.show(f"{p.phase.capitalize()}…{' ' * 50}")


def cmd_train(args: argparse.Namespace) -> int:
    from app.cli import UsageError, _interruptible, open_library
    from trainer.train import TrainConfig, train

    if args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    config = TrainConfig(
        loss=args.loss,
        token_loss=args.token_loss,
        tune=args.tune,
        epochs=args.epochs,
        learning_rate=args.lr,
        mix=args.mix,
        force=args.force,
    )
    line = _TrainLine()
    with open_library(args) as library:
        box: dict = {}

        def run(cancel: threading.Event):
            box["result"] = train(library, config, line, cancel)
            return box["result"]

        _interruptible(run)  # type: ignore[arg-type]
        line.close()
    result = box["result"]
    if result.cancelled:
        print("Training stopped; nothing was changed.", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    b, a, v = result.before, result.after, result.verdict
    agreement = "not checked (the base model is at random init)"
    if a.agreement is not None:
        agreement = f"{a.agreement:.2f}"
    print(f"Model version {result.version}: held-out AP {b.ap:.3f} -> {a.ap:.3f}"
          f" (gain {v.gain:+.3f} ± {v.se:.3f} over {v.measurements} fold-tag measurements),"
          f" recall@{a.k} {b.recall_at_k:.2f} -> {a.recall_at_k:.2f},"
          f" generic-query agreement {agreement}.")  # fmt: skip
    if result.close_ups is not None:
        print(result.close_ups.summary())
    if result.activated:
        extra = " Run `viewfinder index` to re-embed the photos." if result.reembedding else ""
        forced = " (forced)" if not result.clearly_better else ""
        print(f"Switched on{forced}.{extra} Undo with `viewfinder model rollback`.")
        if result.search_note():
            print(result.search_note())
    elif v.decision == "kept":
        print(f"Kept, not switched on: {v.reason}. Try it with `viewfinder model use {result.version}`.")
    else:
        print(f"Not switched on: {v.reason} (use --force, or `viewfinder model use {result.version}`).")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from app.cli import UsageError, open_library
    from trainer import versions

    action = getattr(args, "model_command", None)
    if action is None:
        raise UsageError("say what to do: viewfinder model list | use VERSION | rollback")
    with open_library(args) as library:
        if action == "list":
            listed = versions.list_versions(library)
            active = versions.active_version(library)
            if args.json:
                rows = [{**v.to_json(), "active": v.version == active} for v in listed]
                print(json.dumps(rows))
                return 0
            print(f"{'*' if active == 0 else ' '} 0  base model {versions.training_base(library).key}")
            for v in listed:
                after = v.metrics.get("after", {})
                print(
                    f"{'*' if v.version == active else ' '} {v.version}  {v.config.get('tune')}"
                    f"/{v.config.get('loss')}  mix {v.mix:.2f}  recall@{after.get('k')} {after.get('recall_at_k')}"
                )
            return 0
        if action == "use":
            if args.version < 0:
                raise UsageError("VERSION must be 0 (the base model) or a version number")
            activation = versions.use_version(library, args.version, args.mix)
        else:
            activation = versions.rollback(library)
    what = (
        "the base model"
        if activation.version == 0
        else f"version {activation.version} (mix {activation.mix:.2f})"
    )
    extra = "; run `viewfinder index` to re-embed the photos" if activation.reembedding else ""
    print(f"Now using {what}{extra}.")
    return 0


COMMANDS = {"tag": cmd_tag, "untag": cmd_untag, "tags": cmd_tags, "train": cmd_train, "model": cmd_model}
