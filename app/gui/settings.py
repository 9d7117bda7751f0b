"""App settings (QSettings, parsed once into a frozen dataclass) and the Settings dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from engine.cluster import ClusterConfig

DEFAULT_MODEL = "ViT-B-32"  # engine.config holds the same; not imported here to keep startup light
DEFAULT_PRETRAINED = "datacomp_xl_s13b_b90k"


@dataclass(frozen=True)
class ModelChoice:
    name: str
    pretrained: str | None
    note: str


RECOMMENDED_MODELS = (
    ModelChoice("ViT-B-32", "datacomp_xl_s13b_b90k", "Recommended · 600 MB · fastest · good quality"),
    ModelChoice("ViT-B-16", "datacomp_xl_s13b_b90k", "600 MB · about 4× slower to index · better quality"),
    ModelChoice("ViT-L-14", "datacomp_xl_s13b_b90k", "1.7 GB · about 15× slower to index · best quality"),
)

DEVICES = ("auto", "cpu", "cuda", "mps")
THUMB_SIZES = (128, 160, 192, 224, 256, 320)


@dataclass(frozen=True)
class AppSettings:
    """What the app remembers between runs, besides window geometry and search history."""

    library_dir: str | None = None  # None: the default library location
    device: str = "auto"
    thumb_size: int = 192
    cluster: str = ""  # a Ray cluster's address to index on; empty: on this computer
    path_map: str = ""  # "LOCAL=WORKER; ...": where the cluster's workers see the photo folders

    @classmethod
    def load(cls, settings: QSettings) -> AppSettings:
        library = settings.value("library/dir", None)
        device = str(settings.value("model/device", "auto"))
        try:
            thumb = int(str(settings.value("view/thumb_size", 192)))
        except (TypeError, ValueError):
            thumb = 192
        return cls(
            library_dir=str(library) if library else None,
            device=device if device in DEVICES else "auto",
            thumb_size=min(max(thumb, 96), 400),
            cluster=str(settings.value("cluster/address", "")),
            path_map=str(settings.value("cluster/path_map", "")),
        )

    def save(self, settings: QSettings) -> None:
        if self.library_dir:
            settings.setValue("library/dir", self.library_dir)
        else:
            settings.remove("library/dir")
        settings.setValue("model/device", self.device)
        settings.setValue("view/thumb_size", self.thumb_size)
        settings.setValue("cluster/address", self.cluster)
        settings.setValue("cluster/path_map", self.path_map)


def cluster_config(address: str, path_map: str) -> ClusterConfig | None:
    """The cluster settings as the engine takes them; None to index on this computer. Raises
    ClusterError for a malformed mapping (call it in a worker: it imports the engine)."""
    from engine.cluster import ClusterConfig, parse_path_map

    if not address.strip():
        return None
    pairs = tuple(parse_path_map(m.strip()) for m in path_map.split(";") if m.strip())
    return ClusterConfig(address.strip(), path_map=pairs)


class SettingsDialog(QDialog):
    """Library location, model, device, thumbnail size and where indexing runs.

    `model()` returns (name, pretrained) as chosen; the window compares it with the library's.
    """

    def __init__(
        self,
        settings: AppSettings,
        model: tuple[str, str | None],
        library_dir: str,
        parent: QWidget | None = None,
        focus_model: bool = False,
    ):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.library = QLineEdit(settings.library_dir or library_dir)
        browse_library = QPushButton("Browse…")
        browse_library.clicked.connect(self._browse_library)
        library_row = QHBoxLayout()
        library_row.addWidget(self.library, 1)
        library_row.addWidget(browse_library)

        self.model_combo = QComboBox()
        for choice in RECOMMENDED_MODELS:
            self.model_combo.addItem(f"{choice.name} · {choice.pretrained}", (choice.name, choice.pretrained))
        self.model_combo.addItem("Custom…", None)
        self.model_note = QLabel("")
        self.model_note.setObjectName("hint")
        self.model_note.setWordWrap(True)
        self.custom_name = QLineEdit()
        self.custom_name.setPlaceholderText("open_clip model name, e.g. ViT-B-32, or a JSON config")
        self.custom_pretrained = QLineEdit()
        self.custom_pretrained.setPlaceholderText(
            "pretrained tag, or a checkpoint file (.safetensors, .pt, .bin)"
        )
        pick = QPushButton("Checkpoint file…")
        pick.clicked.connect(self._browse_checkpoint)
        pretrained_row = QHBoxLayout()
        pretrained_row.addWidget(self.custom_pretrained, 1)
        pretrained_row.addWidget(pick)
        self.model_combo.currentIndexChanged.connect(self._model_changed)

        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(settings.device)
        self.thumb = QSpinBox()
        self.thumb.setRange(96, 400)
        self.thumb.setSingleStep(32)
        self.thumb.setSuffix(" px")
        self.thumb.setValue(settings.thumb_size)
        self.cluster = QLineEdit(settings.cluster)
        self.cluster.setPlaceholderText("empty: on this computer; ray://HOST:10001 for a Ray cluster")
        self.path_map = QLineEdit(settings.path_map)
        self.path_map.setPlaceholderText("/Volumes/Photos=/mnt/photos; …  (none: photos are sent)")

        form = QFormLayout()
        form.setVerticalSpacing(10)
        form.addRow("Library location:", library_row)
        form.addRow("", _hint("Takes effect the next time Viewfinder starts."))
        form.addRow("Model:", self.model_combo)
        form.addRow("", self.model_note)
        form.addRow("Model name:", self.custom_name)
        form.addRow("Weights:", pretrained_row)
        form.addRow(
            "",
            _hint(
                "Changing the model re-indexes your photos in the background; search keeps working meanwhile."
            ),
        )
        form.addRow("Device:", self.device)
        form.addRow("Thumbnail size:", self.thumb)
        form.addRow("Index on:", self.cluster)
        form.addRow("Workers see:", self.path_map)
        form.addRow("", _hint("A cluster embeds the photos; the library stays here (README: Ray cluster)."))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.set_model(*model)
        if focus_model:
            self.model_combo.setFocus()

    def set_model(self, name: str, pretrained: str | None) -> None:
        for i in range(self.model_combo.count()):
            if self.model_combo.itemData(i) == (name, pretrained):
                self.model_combo.setCurrentIndex(i)
                self._model_changed(i)
                return
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)
        self.custom_name.setText(name)
        self.custom_pretrained.setText(pretrained or "")
        self._model_changed(self.model_combo.count() - 1)

    def _model_changed(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        custom = data is None
        self.custom_name.setEnabled(custom)
        self.custom_pretrained.setEnabled(custom)
        if custom:
            self.model_note.setText(
                "Any open_clip model: a name with a pretrained tag, or a local checkpoint file."
            )
        else:
            self.model_note.setText(RECOMMENDED_MODELS[index].note)
            self.custom_name.setText(data[0])
            self.custom_pretrained.setText(data[1] or "")

    def model(self) -> tuple[str, str | None]:
        data = self.model_combo.currentData()
        if data is not None:
            return data
        name = self.custom_name.text().strip() or DEFAULT_MODEL
        return name, self.custom_pretrained.text().strip() or None

    def choose_checkpoint(self, path: str) -> None:
        """Select the custom model with a local checkpoint file (name kept or defaulted)."""
        name = self.custom_name.text().strip() or DEFAULT_MODEL
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)
        self.custom_name.setText(name)
        self.custom_pretrained.setText(path)

    def result_settings(self, previous: AppSettings) -> AppSettings:
        library = self.library.text().strip()
        return AppSettings(
            library_dir=library or previous.library_dir,
            device=self.device.currentText(),
            thumb_size=self.thumb.value(),
            cluster=self.cluster.text().strip(),
            path_map=self.path_map.text().strip(),
        )

    def _browse_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Library location", self.library.text())
        if folder:
            self.library.setText(folder)

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Model checkpoint", "", "Checkpoints (*.safetensors *.pt *.pth *.bin);;All files (*)"
        )
        if path:
            self.choose_checkpoint(path)


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label
