"""Loading the search model and showing its state (status label, banner, download progress); training and
model switches.

A mixin of `MainWindow` (main_window.py), which owns the state these methods use."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import jobs
from .training import TrainingDialog

if TYPE_CHECKING:
    pass


MODEL_LOADING, MODEL_READY, MODEL_UNAVAILABLE = "loading", "ready", "unavailable"


class ModelMixin:
    """Methods of `MainWindow`; see the module docstring."""

    def load_model(self) -> None:
        if self.library is None:
            return
        self._set_model_state(MODEL_LOADING)
        library = self.library
        self.runner.submit(
            lambda: jobs.load_models(library, self.bridge.download.emit),
            self._model_loaded,
            self._model_failed,
        )

    def _model_loaded(self, key: str) -> None:
        self._set_model_state(MODEL_READY)
        self.refresh_lists()  # category counts need the model's text tower
        if self._waiting_for_model:
            self._waiting_for_model = False
            self.run_query()

    def _model_failed(self, error: Exception) -> None:
        self.model_error = str(error)
        self._set_model_state(MODEL_UNAVAILABLE)
        if self._waiting_for_model:
            self._waiting_for_model = False
            self.run_query()

    def _set_model_state(self, state: str) -> None:
        self.model_state = state
        name = self.library.model.key.split("|")[0] if self.library is not None else ""
        name = os.path.basename(name)
        if state == MODEL_LOADING:
            self.model_label.setText(f"Loading model {name}…")
            self._show_banner("")
        elif state == MODEL_READY:
            self.model_label.setText(f"Model: {name}")
            self.banner.hide()
        else:
            self.model_label.setText("Model not available")
            self._show_banner(
                "Search needs the image model, and it is not on this computer: "
                f"{self.model_error}\nBrowsing your folders still works. Connect to the internet and retry, "
                "or choose a model file you already have.",
                buttons=True,
            )
        self.model_state_changed.emit(state)

    def _show_banner(self, text: str, buttons: bool = False, progress: bool = False) -> None:
        if not text and not progress:
            self.banner.hide()
            return
        self.banner_text.setText(text)
        self.banner_choose.setVisible(buttons)
        self.banner_retry.setVisible(buttons)
        self.banner_progress.setVisible(progress)
        self.banner.setProperty("kind", "error" if buttons else "info")
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.show()

    def _on_download(self, done: int, total: int) -> None:
        if self.model_state != MODEL_LOADING:
            return
        self._show_banner(
            f"Downloading the image model (one time){f' — {total / 1e6:,.0f} MB' if total else ''}…",
            progress=True,
        )
        if total > 0:
            self.banner_progress.setRange(0, 1000)
            self.banner_progress.setValue(int(1000 * done / total))
        else:
            self.banner_progress.setRange(0, 0)

    def open_training(self) -> TrainingDialog | None:
        if self.library is None:
            return None
        if self.training_dialog is None:
            dialog = TrainingDialog(self.runner, self.library, self)
            dialog.model_changed.connect(self._model_switched)
            self.training_dialog = dialog
        self.training_dialog.show()
        self.training_dialog.raise_()
        return self.training_dialog

    def _model_switched(self, reembedding: bool) -> None:
        """A training run or a Use/Roll back changed the search model."""
        self.viewer.heatmaps.clear()
        self._status_busy = False
        self.refresh_status()
        self.load_model()
        if reembedding:
            self.start_indexing()
        self.run_query()
        self.refresh_lists()
