"""The `viewfinder` command line: arguments parsed once here into engine objects."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO, TypeVar

from engine.config import DEFAULT_MODEL, DEFAULT_PRETRAINED, ModelSpec, default_library_dir
from engine.errors import ViewfinderError

# The engine pulls in torch (seconds to import): commands import it when they run, so that
# `viewfinder` opens the desktop app's window at once and `--help` answers at once.
if TYPE_CHECKING:
    from engine.cluster import ClusterConfig
    from engine.indexer import Progress
    from engine.library import Library

log = logging.getLogger("viewfinder")


class UsageError(ViewfinderError):
    """A mistake in the command line itself."""


# -- argument parsing ---------------------------------------------------------------------------


def _add_library_arg(p: argparse.ArgumentParser, default: str | None = argparse.SUPPRESS) -> None:
    """--library, before the command or after it: a command's own default is SUPPRESS, so that
    `viewfinder --library DIR search ...` is not overwritten by the command's parser."""
    p.add_argument(
        "--library",
        metavar="DIR",
        default=default,
        help="library folder (default: $VIEWFINDER_LIBRARY or the user data folder)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="viewfinder", description="Search your own photo folders by meaning."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    _add_library_arg(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add folders to the library and bring it up to date")
    p.add_argument("paths", nargs="*", metavar="PATH", help="photo folders (default: the library's own)")
    _add_library_arg(p)
    p.add_argument("--model", help="open_clip model name or JSON config (when creating or switching)")
    p.add_argument("--pretrained", metavar="TAG|FILE", help="pretrained tag or local checkpoint file")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--batch-size", type=int, default=32, metavar="N")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="embed on a Ray cluster: ray://HOST:PORT, HOST:PORT, or auto for the one running here",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="LOCAL=WORKER",
        help="with --cluster: the workers read photos under LOCAL at WORKER (repeatable; /=/ when they"
        " see the same paths); photos under no mapping are sent to them",
    )
    p.add_argument("--cluster-workers", type=int, metavar="N", help="with --cluster: model workers")
    p.add_argument(
        "--cluster-cpus", type=float, metavar="N", help="with --cluster: CPUs per model worker (default 4)"
    )
    p.add_argument(
        "--ocr",
        choices=["auto", "all", "off"],
        default="auto",
        help="then read the text in photos: auto (photos where text is detected, the default), all, off",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "int8", "torch"],
        help="inference precision, kept by the library (default auto: bf16 where the CPU has it natively)",
    )
    p.add_argument(
        "--no-closer-look",
        action="store_true",
        help="do not then look up close at the tags no look has seen under this model (tagged under"
        " another model, or with --no-closer-look; the app looks at them in the background)",
    )

    p = sub.add_parser(
        "search",
        help="find photos by text and/or an example image",
        description="Find photos by what they show, their file or folder names, tags and dates.\n"
        "Only the matches are listed, best first: photos whose relevance (0..1, comparable across\n"
        "queries) is at least 0.5. A last line says how many weaker results there are; --all lists them.",
        epilog="examples:\n"
        '  viewfinder search "beach 2019"\n'
        "  viewfinder search June\n"
        "  viewfinder search dog --like a.jpg --unlike b.jpg\n"
        "  viewfinder search Canon_40D\n"
        '  viewfinder search "taken with my nikon"\n\n'
        "Words that name a year or month match when the photo was taken; words found in file or\n"
        "folder names, the camera's make and model or tags match those. With --json: a list of\n"
        "hits, best first, each with path, score (similarity), relevance, match (above the cut)\n"
        "and matched (the signals that matched besides the look: filename, folder, camera, tag,\n"
        "date, text).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", nargs="?", help='what to look for; "-word" excludes a word')
    p.add_argument("--image", metavar="FILE", help="find photos like this one")
    p.add_argument("--not", dest="negatives", action="append", default=[], metavar="TEXT", help="exclude")
    p.add_argument("-k", type=int, default=20, metavar="N", help="list at most N photos (default 20)")
    p.add_argument("--all", action="store_true", help="list the weaker results after the matches too")
    p.add_argument(
        "--sort", choices=["relevance", "newest", "oldest"], default="relevance", help="order of the matches"
    )
    p.add_argument("--like", action="append", default=[], metavar="PHOTO", help="more like this photo (repeatable)")
    p.add_argument("--unlike", action="append", default=[], metavar="PHOTO", help="not like this photo (repeatable)")
    p.add_argument("--after", type=_date, metavar="YYYY-MM-DD", help="taken on or after this day")
    p.add_argument("--before", type=_date, metavar="YYYY-MM-DD", help="taken before this day")
    p.add_argument("--folder", metavar="PATH", help="only photos under this folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    _add_library_arg(p)

    p = sub.add_parser("text", help="the text read in a photo, with where it is")
    p.add_argument("photo", metavar="PHOTO", help="a photo of the library")
    p.add_argument("--json", action="store_true", help="print JSON: lines with their score and box")
    _add_library_arg(p)

    p = sub.add_parser("status", help="what the library holds")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_library_arg(p)

    p = sub.add_parser(
        "compact", help="drop at once what is kept for 30 days in case removed photos come back"
    )
    _add_library_arg(p)

    p = sub.add_parser("watch", help="keep the library current while folders change")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    _add_library_arg(p)

    p = sub.add_parser("gui", help="start the desktop app (the default)")
    _add_library_arg(p)
    for module in _command_modules():
        module.add_parsers(sub, _add_library_arg)
    return parser


def _command_modules() -> list:
    """Further command groups (categories and heatmaps, tags and training), each in its own module
    with add_parsers(subparsers, add_library_arg) and a COMMANDS dict of name -> handler."""
    import importlib

    modules = []
    for name in ("app.cli_categories", "app.cli_training", "app.cli_desktop", "app.cli_duplicates"):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return modules


def _date(text: str) -> float:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date of the form YYYY-MM-DD: {text!r}") from None


def model_spec(name: str | None, pretrained: str | None) -> ModelSpec | None:
    """The model asked for on the command line, or None to keep the library's."""
    if name is None and pretrained is None:
        return None
    name = name or DEFAULT_MODEL
    if pretrained is None and not name.endswith(".json"):
        pretrained = DEFAULT_PRETRAINED if name == DEFAULT_MODEL else _first_pretrained_tag(name)
    if pretrained is not None and pretrained.lower() in {"none", "random"}:
        pretrained = None
    return ModelSpec(name, pretrained)


def _first_pretrained_tag(name: str) -> str | None:
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(name)
    return tags[0] if tags else None


def open_library(args: argparse.Namespace, model: ModelSpec | None = None, *, create: bool = False) -> Library:
    """The library named by --library, $VIEWFINDER_LIBRARY or the default location. Only `create`
    (indexing) makes one that does not exist yet: any other command on a mistyped path says so
    rather than leave an empty library there."""
    from engine.library import DB_NAME, Library

    path = args.library or default_library_dir()
    if not create and not os.path.exists(os.path.join(path, DB_NAME)):
        named = f" --library {path}" if args.library else ""
        raise UsageError(f"no library at {path} yet: add photos with `viewfinder index FOLDER{named}`")
    return Library(
        path,
        model=model,
        device=getattr(args, "device", "auto"),
        batch_size=getattr(args, "batch_size", 32),
        precision=getattr(args, "precision", None),
    )


# -- output -------------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on a terminal; silent elsewhere (pipes, CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr):
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if p.phase == "scanning":
            self.stream.write("\rScanning folders…")
        elif p.phase == "reading text" and p.done <= 1:
            self.stream.write("\nReading the text in photos…\n")
        else:
            width = 28
            filled = int(width * p.done / p.total) if p.total else width
            eta = _duration(p.eta) if p.eta is not None else "--:--"
            failed = f"  {p.failed} unreadable" if p.failed else ""
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}"
                f"  {p.rate:5.1f} photos/s  ETA {eta}{failed}   "
            )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


R = TypeVar("R")


def _interruptible(run: Callable[[threading.Event], R]) -> R:
    """Run a long operation; Ctrl-C or SIGTERM asks it to stop cleanly instead of killing it."""
    cancel = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int, frame: object) -> None:
        cancel.set()

    for s in previous:
        signal.signal(s, stop)
    try:
        return run(cancel)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# -- commands -----------------------------------------------------------------------------------


def cluster_config(args: argparse.Namespace) -> ClusterConfig | None:
    """The --cluster options as a ClusterConfig; None without --cluster."""
    from engine.cluster import ClusterConfig, parse_path_map, require_ray

    if args.cluster is None:
        if args.path_map or args.cluster_workers or args.cluster_cpus:
            raise UsageError("--path-map, --cluster-workers and --cluster-cpus go with --cluster")
        return None
    if args.cluster_workers is not None and args.cluster_workers < 1:
        raise UsageError("--cluster-workers must be at least 1")
    if args.cluster_cpus is not None and args.cluster_cpus <= 0:
        raise UsageError("--cluster-cpus must be more than 0")
    require_ray()
    return ClusterConfig(
        args.cluster,
        path_map=tuple(parse_path_map(m) for m in args.path_map),
        workers=args.cluster_workers,
        cpus_per_worker=args.cluster_cpus,
    )


def cmd_index(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not os.path.isdir(p)]
    if missing:
        raise UsageError(f"not a folder: {missing[0]}")
    cluster = cluster_config(args)
    from engine.ocr import OcrConfig

    with open_library(args, model_spec(args.model, args.pretrained), create=bool(args.paths)) as library:
        library.add_folders(args.paths)
        if not library.folders():
            raise UsageError("the library has no folders yet: add some with `viewfinder index FOLDER`")
        bar = ProgressBar()
        result = _interruptible(lambda cancel: library.index(bar, cancel, cluster=cluster))
        text = None
        if not result.cancelled and args.ocr != "off":
            text = _interruptible(lambda cancel: library.read_text(OcrConfig(mode=args.ocr), bar, cancel))
        bar.close()
        status = library.status()
        if result.cancelled or (text is not None and text.cancelled):
            where = f"reading text in {text.done} photos" if text is not None else f"{result.done} photos"
            print(f"Stopped after {where}; run the same command again to resume.", file=sys.stderr)
            return 130
        print(
            f"{status.photos} photos indexed, {status.failed} unreadable, {status.pending} pending"
            f" ({result.done} processed this run)."
        )
        if text is not None and text.done:
            share = f"{100 * text.skipped / text.done:.0f}%"
            print(
                f"Text: looked at {text.done} photos at {text.rate:.2f} photos/s: {text.found} with text,"
                f" {text.skipped} ({share}) skipped by the gate."
            )
        if status.failures:
            print("Unreadable files (viewfinder status lists them all):", file=sys.stderr)
            for f in status.failures[:5]:
                print(f"  {f.path}: {f.reason}", file=sys.stderr)
        if not status.pending and not args.no_closer_look:
            from app.cli_training import look_closer_at

            look_closer_at(library, library.tags_not_looked_at())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from engine.search import Query, parse_query_text

    text, negatives = parse_query_text(args.query or "")
    if args.after is not None and args.before is not None and args.after >= args.before:
        raise UsageError("--after must be earlier than --before")
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    query = Query(
        text=text or None,
        image=args.image,
        negatives=negatives + tuple(args.negatives),
        after=args.after,
        before=args.before,
        folder=args.folder,
        k=args.k,
        sort=args.sort,
        likes=tuple(os.path.abspath(p) for p in args.like),
        unlikes=tuple(os.path.abspath(p) for p in args.unlike),
    )
    if query.empty:
        raise UsageError("give a query text, --image FILE or --like PHOTO")
    if args.image and not os.path.isfile(args.image):
        raise UsageError(f"no such file: {args.image}")
    with open_library(args) as library:
        results = library.find(query)
        empty = library.status().photos == 0
    hits = results.hits if args.all else results.match_hits
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits]))
        return 0
    if not hits:
        if empty:
            print("The library has no photos yet: add some with `viewfinder index FOLDER`.")
        else:
            print("No matches.")
    for h in hits:
        signals = f"  [{', '.join(h.matched)}]" if h.matched else ""
        weaker = "" if h.match else "  (weaker)"
        print(f"{h.relevance:5.2f}  {h.path}{signals}{weaker}")
    if results.words.dates:
        print(f"Read as dates: {', '.join(results.words.dates)}.")
    # A library searched through its graph counts only the photos nearest the query: lower bounds.
    at_least = "at least " if results.bounded else ""
    unlisted = results.matches - len(results.match_hits)
    if unlisted > 0 and not args.all:
        print(f"{at_least.capitalize()}{unlisted} more matches not shown (-k {results.matches} lists them).")
    if results.weaker and not args.all:
        print(f"{at_least.capitalize()}{results.weaker} weaker results not shown (--all lists them).")
    elif results.weaker:
        print(f"{at_least.capitalize()}{results.matches} matches, {at_least}{results.weaker} weaker results.")
    return 0


def _hit_json(hit) -> dict:
    return {
        "path": hit.path,
        "score": round(hit.score, 6),
        "relevance": round(hit.relevance, 6),
        "match": hit.match,
        "matched": list(hit.matched),
        **_photo_json(hit),
    }


def _photo_json(hit) -> dict:
    p = hit.photo
    taken = dt.datetime.fromtimestamp(p.taken_at).isoformat() if p.taken_at else None
    return {"taken_at": taken, "width": p.width, "height": p.height}


def cmd_text(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.photo):
        raise UsageError(f"no such file: {args.photo}")
    with open_library(args) as library:
        found = library.photo_text(args.photo)
    if found is None:
        raise UsageError(
            f"{args.photo} has not been read yet: it must be in the library; run `viewfinder index`"
        )
    if args.json:
        lines = [{"text": t.text, "score": t.score, "box": [list(p) for p in t.box]} for t in found.lines]
        print(json.dumps({"path": os.path.abspath(args.photo), "status": found.status, "lines": lines}))
    elif found.status == "skipped":
        print(f"No text detected (the {found.gate} gate skipped it; `viewfinder index --ocr all` reads it).")
    elif not found.lines:
        print("No text found.")
    else:
        print(found.text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        status = library.status()
    if args.json:
        print(json.dumps(status.to_json()))
        return 0
    print(f"Library: {library.path}")
    print(f"Model:   {status.model}")
    if status.target_model:
        print(f"Switching to {status.target_model}: run `viewfinder index` to finish re-embedding.")
    print(f"Photos:  {status.photos} indexed, {status.pending} pending, {status.failed} unreadable")
    for f in status.folders:
        print(f"  {f.path}  ({f.photos} photos{'' if f.available else ', not available'})")
        for part in f.unavailable:
            print(f"    cannot be read now (its photos are kept): {part}")
    for failure in status.failures:
        print(f"  unreadable: {failure.path}: {failure.reason}")
    for damaged in status.damaged:
        print(f"  {damaged.reason}: {damaged.path}")
    if library.read_only:
        print("The library is read-only: search and browsing work, changes cannot be saved.")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    with open_library(args) as library:
        dropped = library.compact()
    print(f"Dropped {dropped} vectors kept for photos that left the library; space given back.")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from engine.watcher import Watcher

    with open_library(args) as library:
        if not library.folders():
            raise UsageError("the library has no folders yet: add some with `viewfinder index FOLDER`")
        bar = ProgressBar()
        library.index(bar)
        bar.close()
        library.encoder(library.target_model)  # loaded now, so the first change is indexed at once
        stop = threading.Event()
        watcher = Watcher(library, on_progress=bar)

        def handler(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        watcher.start()
        how = (
            "rescanning every minute: the system's limit on watches is reached"
            if watcher.polling
            else "watching"
        )
        print(
            f"Keeping {len(library.folders())} folder(s) current ({how}); press Ctrl-C to stop.",
            file=sys.stderr,
        )
        try:
            while not stop.wait(0.5):
                pass
        finally:
            watcher.stop()
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app.syslibs import check

    if check():  # Qt's X11 platform would fail: the install command is printed instead
        return 1
    try:
        from app.gui.main import run_gui
    except ImportError as e:
        if "app.gui" not in str(e) and "PySide6" not in str(e):
            raise
        build_parser().print_help()
        return 0
    return run_gui(args.library)


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "text": cmd_text,
    "status": cmd_status,
    "compact": cmd_compact,
    "watch": cmd_watch,
    "gui": cmd_gui,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    commands = dict(COMMANDS)
    for module in _command_modules():
        commands.update(module.COMMANDS)
    command = commands.get(args.command or "gui", cmd_gui)
    try:
        return command(args)
    except ViewfinderError as e:
        print(f"viewfinder: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("viewfinder: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
