"""The search model: loading it, showing its one state (status bar label and banner, download
progress), and the training dialog whose versions switch it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from .. import jobs
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
        choose_model_file: Callable[[], object],
    ):
        super().__init__(window)
        self.state, self.views, self.runner, self.window = state, views, runner, window
        self.training_dialog: TrainingDialog | None = None
        self._generation = 0
        self._on_download = Relay(self._download, self)
        views.banner.choose.clicked.connect(lambda _checked=False: choose_model_file())
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

        def loaded(info: ModelInfo) -> None:
            if generation == self._generation:
                self.state.set_model(info)

        def known(info: ModelInfo) -> None:  # the name first (instant), then the weights (seconds)
            if generation == self._generation:
                self.state.set_model(info)
                self.runner.submit(lambda: jobs.load_models(library, download), loaded, self._failed)

        self.runner.submit(lambda: jobs.model_info(library), known, self._failed)

    def _failed(self, error: Exception) -> None:
        self.state.update_model(state=ModelState.UNAVAILABLE, problem=str(error))

    def _render(self, info: ModelInfo) -> None:
        views = self.views
        if info.state is ModelState.LOADING:
            views.model_label.setText(f"Loading model {info.name}…" if info.name else "Loading model…")
            views.banner.show_message("")
        elif info.state is ModelState.READY:
            views.model_label.setText(f"Model: {info.name}")
            views.banner.hide()
        else:
            views.model_label.setText("Model not available")
            views.banner.show_message(
                "Search needs the image model, and it is not on this computer: "
                f"{info.problem}\nBrowsing your folders still works. Connect to the internet and retry, "
                "or choose a model file you already have.",
                problem=True,
            )

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
            dialog = TrainingDialog(self.runner, library, self.window)
            dialog.model_changed.connect(self.state.model_switched)
            self.training_dialog = dialog
        self.training_dialog.show()
        self.training_dialog.raise_()
        return self.training_dialog

    def shutdown(self) -> None:
        if self.training_dialog is not None:
            self.training_dialog.cancel()
