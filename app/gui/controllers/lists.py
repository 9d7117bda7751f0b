"""The sidebar's categories (smart albums) and tags: listing them with counts, the category dialog,
and tagging photos from the grid or the viewer."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget
from shiboken6 import isValid

from .. import tags as tag_jobs
from ..categories import CategoryBook, CategoryDialog, category_counts, get_category, remove_category
from ..state import SCOPE_CATEGORY, SCOPE_TAG, AppState, Event
from ..tags import TagDialog
from ..thumbnails import ThumbnailLoader
from ..views import Views
from ..workers import CoalescedJob, Runner
from . import confirmed
from .viewer import ViewerController

if TYPE_CHECKING:
    from engine.library import Status
    from engine.tag_crops import CloseUpCheck

log = logging.getLogger(__name__)

# (category, member count or None), tag counts, the key of the model the counts were made with,
# whether every photo had that model's vector (not while a new model re-embeds the library), and
# then the tags search sees up close by no look (Library.tags_not_looked_at)
Lists = tuple[list[tuple[str, "int | None"]], dict[str, int], "str | None", bool, list[str]]


class ListsController(QObject):
    """Keeps the sidebar's Categories and Tags sections current; opens the category dialog."""

    lists_refreshed = Signal()  # the sidebar's categories and tags are up to date
    tagged = Signal(object)  # tags.TagOutcome after tagging photos from the grid
    looked_closer = Signal(str)  # a tag whose closer look (Library.look_closer) now counts in its searches

    def __init__(
        self,
        state: AppState,
        views: Views,
        runner: Runner,
        categories: CategoryBook,
        viewer: ViewerController,
        window: QWidget,
        thumbnails: ThumbnailLoader | None = None,
    ):
        super().__init__(window)
        self.state, self.views, self.runner, self.window = state, views, runner, window
        self.categories, self.viewer, self.thumbnails = categories, viewer, thumbnails
        self.category_dialog: CategoryDialog | None = None
        self.tag_dialog: TagDialog | None = None
        self._select_after_refresh: str | None = None
        self._select_tag_after_refresh: str | None = None
        self._counted: tuple[str, dict[str, int]] | None = None  # model key, the album counts it gave
        self._job = CoalescedJob[Lists](runner, self._done, self._failed)
        self._prepare = CoalescedJob[None](runner, lambda _: None, priority=-1)
        self._closer: list[str] = []  # tags waiting for a closer look (Library.look_closer), oldest first
        self._looking_at: str | None = None  # the tag being looked at
        self._stop_looking = threading.Event()  # stops that look
        self._offered: set[tuple[str | None, str]] = set()  # (model key, tag) looked at without a change

        self.tag_action = QAction("&Tag Selected Photos…", window)
        self.tag_action.setShortcut("Ctrl+T")
        self.tag_action.triggered.connect(lambda _checked=False: self.tag_selected_photos())
        viewer.grid_actions.append(self.tag_action)

        sidebar = views.sidebar
        sidebar.new_category_requested.connect(self.new_category)
        sidebar.edit_category_requested.connect(self.edit_category)
        sidebar.remove_category_requested.connect(self.remove_category)
        sidebar.rename_tag_requested.connect(self.rename_tag)
        sidebar.remove_tag_requested.connect(self.remove_tag)
        views.viewer.tags_changed.connect(self._tag_changed)
        for event in (Event.LIBRARY, Event.CONTENT, Event.MODEL):
            state.subscribe(event, lambda *_args: self.refresh())
        state.subscribe(Event.STATUS, self._status_changed)
        self._hidden: frozenset[str] = frozenset()

    def refresh(self) -> None:
        """Re-read the categories (with member counts once the model is ready) and tags, in a worker."""
        library = self.state.library
        if library is None or self.state.closing:
            return
        book, counted = self.categories, self.state.model_ready
        status = self.state.status
        hidden = frozenset(f.path for f in status.folders if not f.available) if status else frozenset()

        def work() -> Lists:
            if counted:
                categories, model = category_counts(book, hidden), book.get().model
                settled = not library.store.photos.counts(model)["pending"]
            else:  # no model yet: names now, counts once it has loaded
                categories, model, settled = [(c.name, None) for c in book.get().list()], None, False
            unseen = library.tags_not_looked_at() if settled and not library.store.read_only else []
            return categories, tag_jobs.tag_counts(library), model, settled, unseen

        self._job.run(work)

    def _status_changed(self, status: Status) -> None:
        """A folder that went away (or came back): its photos leave (or rejoin) the album counts."""
        hidden = frozenset(f.path for f in status.folders if not f.available)
        if hidden != self._hidden:
            self._hidden = hidden
            self.refresh()

    def _done(self, result: Lists) -> None:
        categories, tags, model, settled, unseen = result
        # A new model's effect on the albums is said once every photo has its vector: counted
        # while it re-embeds the library (or takes over an empty one), an album would seem to lose
        # its photos.
        if model is not None and settled:
            counts = {name: count for name, count in categories if count is not None}
            if self._counted is not None and self._counted[0] != model and categories:
                self.views.status_bar.showMessage(albums_changed_text(self._counted[1], counts), 20_000)
            self._counted = (model, counts)
        self.views.sidebar.set_categories(categories)
        self.views.sidebar.set_tags(tags)
        # Tags without a look (from before looks were taken, under another model, or stopped when the
        # app closed) are looked at once a session in each model, after the tags that change.
        for text in unseen:
            if (model, text) not in self._offered and text != self._looking_at and text not in self._closer:
                self._offered.add((model, text))
                self.look_closer(text)
        if self._select_after_refresh is not None:
            self.views.sidebar.select_category(self._select_after_refresh)
            self._select_after_refresh = None
        if self._select_tag_after_refresh is not None:
            self.views.sidebar.select_tag(self._select_tag_after_refresh)
            self._select_tag_after_refresh = None
        self.lists_refreshed.emit()

    def _failed(self, error: Exception) -> None:
        log.warning("cannot list categories and tags: %s", error)

    def _error(self, error: Exception) -> None:
        QMessageBox.warning(self.window, "Viewfinder", str(error))

    # -- categories --------------------------------------------------------------------------

    def new_category(self) -> CategoryDialog | None:
        return self._open_dialog(None)

    def edit_category(self, name: str) -> None:
        """Open the dialog on a stored category (read in a worker)."""
        book = self.categories
        self.runner.submit(lambda: get_category(book, name), self._open_dialog, self._error)

    def _open_dialog(self, existing: object) -> CategoryDialog | None:
        if self.state.library is None:
            return None
        dialog = CategoryDialog(
            self.runner,
            self.categories,
            existing,  # type: ignore[arg-type]
            self.window,
            thumbnails=self.thumbnails,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._saved)
        dialog.destroyed.connect(lambda *_: setattr(self, "category_dialog", None))
        self.category_dialog = dialog
        dialog.open()
        return dialog

    def _saved(self, category: object) -> None:
        self._select_after_refresh = getattr(category, "name", None)
        self.refresh()
        if self.state.scope.kind == SCOPE_CATEGORY:
            self.state.set_query()

    def remove_category(self, name: str) -> None:
        if confirmed(self.window, "Remove category", f"Remove the category “{name}”?\nNo photo is deleted."):
            self.remove_category_now(name)

    def remove_category_now(self, name: str) -> None:
        book = self.categories
        self.runner.submit(lambda: remove_category(book, name), lambda _r: self.refresh(), self._error)

    # -- tags --------------------------------------------------------------------------------

    def tag_selected_photos(self) -> TagDialog | None:
        """Ask what to tag the selected photos with; the dialog stays open if tagging fails."""
        paths = self.viewer.targets()
        if not paths:
            self.views.status_bar.showMessage("Select photos to tag first.", 4000)
            return None
        dialog = TagDialog(len(paths), self.views.sidebar.tag_names(), self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(lambda text: self.tag_paths(paths, text, dialog))
        dialog.destroyed.connect(lambda *_: setattr(self, "tag_dialog", None))
        self.tag_dialog = dialog
        dialog.open()
        return dialog

    def tag_paths(self, paths: list[str], text: str, dialog: TagDialog | None = None) -> None:
        """Tag photos in a worker; the sidebar's Tags and an open viewer follow."""
        library = self.state.library
        if library is None:
            return

        def done(outcome: tag_jobs.TagOutcome) -> None:
            if dialog is not None and not isValid(dialog):  # closed meanwhile: report as usual
                self._tagged(outcome)
                return
            if dialog is not None and not outcome.tagged:
                dialog.failed(outcome.failed[0][1] if outcome.failed else "No photo was tagged.")
                return
            if dialog is not None:
                dialog.done_tagging()
            self._tagged(outcome)

        def failed(error: Exception) -> None:
            if dialog is not None and isValid(dialog):
                dialog.failed(str(error))
            else:
                self._error(error)

        self.runner.submit(lambda: tag_jobs.tag_photos(library, paths, text), done, failed)

    def rename_tag(self, old: str) -> None:
        """Ask for the tag's new name, then rename it on every photo."""
        asked = f"Rename “{old}” on every photo to:"
        new, ok = QInputDialog.getText(self.window, "Rename tag", asked, text=old)
        if ok and " ".join(new.split()) not in ("", old):
            self.rename_tag_now(old, new)

    def rename_tag_now(self, old: str, new: str) -> None:
        """Rename the tag `old` to `new` on every photo in a worker (merged where `new` is a tag
        already); a sidebar showing it shows it under its new name."""
        library = self.state.library
        if library is None:
            return
        new = " ".join(new.split())

        def done(count: int) -> None:
            self.views.status_bar.showMessage(f"Renamed “{old}” to “{new}” on {_photos(count)}.", 8000)
            if self.state.scope.kind == SCOPE_TAG and self.state.scope.value == old:
                self._select_tag_after_refresh = new
            self._tags_changed([old, new])

        self.runner.submit(lambda: tag_jobs.rename_tag(library, old, new), done, self._error)

    def remove_tag(self, text: str) -> None:
        """Ask, then remove the tag `text` from every photo (never the photos)."""
        question = f"Remove the tag “{text}” from every photo?\nNo photo is changed."
        if confirmed(self.window, "Remove tag", question):
            self.remove_tag_now(text)

    def remove_tag_now(self, text: str) -> None:
        library = self.state.library
        if library is None:
            return

        def done(count: int) -> None:
            self.views.status_bar.showMessage(f"Removed the tag “{text}” from {_photos(count)}.", 8000)
            self._tags_changed([text])

        self.runner.submit(lambda: tag_jobs.remove_tag_everywhere(library, text), done, self._error)

    def _tags_changed(self, texts: list[str]) -> None:
        """Tags whose photos changed at once: the sidebar, an open viewer's chips and heatmaps
        follow, and each is looked at again (a tag no photo carries loses its look)."""
        if self.views.viewer.hit is not None:
            self.views.viewer.reload_tags()
        for text in texts:
            self._tag_changed(text)

    def _tag_changed(self, text: str) -> None:
        self.views.viewer.heatmaps.clear()  # the tag maps of `text` move with its photos and boxes
        self.refresh()
        self.prepare_tag(text)

    def prepare_tag(self, text: str) -> None:
        """Fit the changed tag's scorers in the background (about a second for a large library), so
        that the next query naming it answers at once."""
        library = self.state.library
        if library is not None and self.state.model_ready and not self.state.closing:
            self._prepare.run(lambda: library.prepare_tag(text))
            self.look_closer(text)

    def look_closer(self, text: str) -> None:
        """Look at the photos most like the tag `text` up close in the background (about what
        indexing a few hundred photos costs), each changed tag in turn; a look at the same tag under
        way starts again, as its photos changed."""
        if text not in self._closer:
            self._closer.append(text)
        if text == self._looking_at:
            self._stop_looking.set()
        self._next_look()

    def stop_looking(self) -> None:
        """Drop the tags waiting for a closer look and stop the one under way: the window is closing."""
        self._closer.clear()
        self._stop_looking.set()

    @property
    def looking(self) -> bool:
        return self._looking_at is not None

    def _next_look(self) -> None:
        library = self.state.library
        if self._looking_at is not None or not self._closer or library is None or self.state.closing:
            return
        text = self._looking_at = self._closer.pop(0)
        stop = self._stop_looking = threading.Event()

        def done(check: CloseUpCheck | None) -> None:
            self._looking_at = None
            if check is not None and not check.unchanged and not stop.is_set():
                self.views.status_bar.showMessage(check.summary(text), 8000)
                self.looked_closer.emit(text)
            self._next_look()

        def failed(error: Exception) -> None:
            log.warning("could not look closer at %r: %s", text, error)
            done(None)

        self.runner.submit(lambda: library.look_closer(text, cancel=stop), done, failed, priority=-2)

    @property
    def preparing(self) -> bool:
        return self._prepare.busy

    def _tagged(self, outcome: tag_jobs.TagOutcome) -> None:
        count = len(outcome.tagged)
        message = f"Tagged {'one photo' if count == 1 else f'{count:,} photos'} “{outcome.text}”."
        if outcome.failed:
            message += f" {len(outcome.failed):,} could not be tagged: {outcome.failed[0][1]}"
        self.views.status_bar.showMessage(message, 8000)
        self.refresh()
        viewer = self.views.viewer
        if viewer.hit is not None and viewer.hit.path in outcome.tagged:
            viewer.reload_tags()
        if outcome.tagged:
            viewer.heatmaps.clear()
            self.prepare_tag(outcome.text)
        self.tagged.emit(outcome)


def albums_changed_text(before: dict[str, int], after: dict[str, int]) -> str:
    """What a new search model did to the albums' counts, in one line."""
    changed = [
        f"{name} {before[name]:,} → {count:,}"
        for name, count in after.items()
        if before.get(name, count) != count
    ]
    if not changed:
        return "Albums updated for the new model: their counts did not change."
    return "Albums updated for the new model: " + ", ".join(changed) + "."


def _photos(count: int) -> str:
    return f"{count:,} photo{'' if count == 1 else 's'}"
