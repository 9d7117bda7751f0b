"""The search model: loading it, showing its one state (status bar label and banner, download
progress), and the training dialog whose versions switch it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from .. import jobs
from ..settings import DEFAULT_MODEL
from ..state import AppState, Event, ModelInfo, ModelState
from ..training import TrainingDialog
from ..views import Views
from ..workers import Relay, Runner


class ModelController(QObject):
    """Loads the model whenever a library is attached or its model switches; renders `state.model`."""

    def __init__(
        self,
        state: AppState,
        views: Views,
        runner: Runner,
        window: QWidget,
    ):
        super().__init__(window)
        self.state, self.views, self.runner, self.window = state, views, runner, window
        self.training_dialog: TrainingDialog | None = None
        self._generation = 0
        self._on_download = Relay(self._download, self)
        views.banner.choose.clicked.connect(lambda _checked=False: self.choose_model_file())
        views.banner.retry.clicked.connect(lambda _checked=False: self.load())
        state.subscribe(Event.LIBRARY, lambda _library: self.load())
        state.subscribe(Event.MODEL_SWITCHED, lambda _reembed: self.load())
        state.subscribe(Event.MODEL, self._render)
        self._render(state.model)

    def load(self) -> None:
        """Read which model the library uses, then load it (both in workers)."""
        library = self.state.library
        if library is None:
            return
        self._generation += 1
        generation, download = self._generation, self._on_download
        self.state.update_model(state=ModelState.LOADING, problem="", offline=False)

        def current(fn: Callable[[Any], None]) -> Callable[[Any], None]:
            return lambda value: fn(value) if generation == self._generation else None

        def known(info: ModelInfo) -> None:  # the name first (instant), then the weights (seconds)
            self.state.set_model(info)
            self.runner.submit(
                lambda: jobs.load_models(library, download),
                current(self.state.set_model),
                current(self._failed),
            )

        self.runner.submit(lambda: jobs.model_info(library), current(known), current(self._failed))

    def _failed(self, error: Exception) -> None:
        offline = isinstance(error, jobs.ModelMissing) and error.offline
        self.state.update_model(
            state=ModelState.UNAVAILABLE, problem=describe_problem(error), offline=offline
        )

    def choose_model_file(self) -> None:
        """Ask for a model file the user already has, and use it at once."""
        path, _filter = QFileDialog.getOpenFileName(
            self.window,
            "Choose the image model file",
            os.path.expanduser("~"),
            "Model files (*.safetensors *.pt *.pth *.bin);;All files (*)",
        )
        if path:
            self.use_model_file(path)

    def use_model_file(self, path: str) -> None:
        """Search with the model of the current name loaded from `path` (a checkpoint file)."""
        name = self.state.model.target[0] or DEFAULT_MODEL
        self.switch_model((name, path))

    def switch_model(self, model: tuple[str, str | None]) -> None:
        """Switch the library's model and re-index in the background. While the current model
        works, searches keep its vectors until re-embedding ends; when it cannot be loaded, the
        new one takes over at once."""
        from engine.config import ModelSpec

        library = self.state.library
        if library is None:
            return
        if self.state.read_only:  # the library cannot record another model; search goes on as it is
            self.views.status_bar.showMessage(self.state.read_only, 10_000)
            return
        at_once = self.state.model.state is ModelState.UNAVAILABLE
        spec = ModelSpec(*model)
        self.state.update_model(state=ModelState.LOADING, target=model, problem="", offline=False)
        self.runner.submit(
            lambda: library.set_model(spec, at_once=at_once),
            lambda _r: self.state.model_switched(True),
            self._failed,
        )

    def _render(self, info: ModelInfo) -> None:
        views = self.views
        if info.state is ModelState.LOADING:
            views.model_label.setText(f"Loading model {info.name}…" if info.name else "Loading model…")
            views.banner.show_message("")
        elif info.state is ModelState.READY:
            views.model_label.setText(f"Model: {info.name}")
            views.banner.hide()
        else:
            views.model_label.setText(
                "Search model missing" if not info.offline else "Offline: no search model"
            )
            views.banner.show_message(info.problem, problem=True)

    def _download(self, done: int, total: int) -> None:
        if self.state.model.state is not ModelState.LOADING:
            return
        size = f" — {total / 1e6:,.0f} MB" if total else ""
        banner = self.views.banner
        banner.show_message(f"Downloading the image model (one time){size}…", progress=True)
        if total > 0:
            banner.progress.setRange(0, 1000)
            banner.progress.setValue(int(1000 * done / total))
        else:
            banner.progress.setRange(0, 0)

    # -- training ----------------------------------------------------------------------------

    def open_training(self) -> TrainingDialog | None:
        library = self.state.library
        if library is None:
            return None
        if self.training_dialog is None:
            dialog = TrainingDialog(self.runner, library, self.window, read_only=self.state.read_only)
            dialog.model_changed.connect(self.state.model_switched)
            self.training_dialog = dialog
        self.training_dialog.show()
        self.training_dialog.raise_()
        return self.training_dialog

    def shutdown(self) -> None:
        if self.training_dialog is not None:
            self.training_dialog.cancel()


_CLI_HINT = re.compile(r"[;,.]?\s*(or |Or )?(pass|download)[^.;]*--pretrained \S+", re.IGNORECASE)


def describe_problem(error: Exception) -> str:
    """Why search cannot run, and what to do, in the words of the window's buttons."""
    choose = "click “Choose model file…” to use a model file you have"
    browse = "Browsing your folders works meanwhile."
    if isinstance(error, jobs.ModelMissing) and error.offline:
        return (
            f"This computer is offline, and the search model ({error.name}) has not been downloaded yet. "
            f"Connect to the internet and click Retry, or {choose}. {browse}"
        )
    detail = _CLI_HINT.sub("", str(error)).strip().rstrip(".")
    return f"The search model cannot be loaded: {detail}. Click Retry, or {choose}. {browse}"
