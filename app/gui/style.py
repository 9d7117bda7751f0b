"""The app's look: a light, quiet style sheet over Fusion, with an accent colour."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle

ACCENT = "#2f6fde"

STYLE_SHEET = f"""
QMainWindow, QWidget#welcome {{ background: #fafafa; }}
QWidget#sidebar {{ background: #f0f1f4; border-right: 1px solid #e0e2e7; }}
QWidget#sidebar QTreeWidget {{ background: transparent; border: none; padding-top: 10px; outline: 0; }}
QWidget#sidebar QTreeWidget::item {{ padding: 5px 6px; border-radius: 6px; }}
QWidget#sidebar QTreeWidget::item:selected {{ background: #dde6f8; color: #1b3f8a; }}
QWidget#sidebar QTreeWidget::branch, QWidget#sidebar QTreeWidget::branch:selected {{ background: #f0f1f4; }}
QLineEdit#searchField {{
    padding: 8px 12px; border: 1px solid #d5d8de; border-radius: 10px; background: white;
    font-size: 15px;
}}
QLineEdit#searchField:focus {{ border: 1px solid {ACCENT}; }}
QToolButton#imageChip {{
    background: #e6eefc; color: #1b3f8a; border-radius: 12px; padding: 5px 10px;
}}
QLabel#scopeLabel {{ color: #6b7280; }}
QLabel#hint, QLabel#modelLabel {{ color: #6b7280; }}
QLabel#emptyState {{ color: #6b7280; font-size: 16px; }}
QLabel#welcomeTitle {{ font-size: 26px; font-weight: 600; color: #1f2430; }}
QLabel#welcomeText {{ font-size: 14px; color: #4b5160; }}
QAbstractItemView#grid {{ background: #fafafa; border: none; }}
QLineEdit#dateField[invalid="true"] {{ border: 1px solid #c62828; background: #fdecea; }}
QPushButton {{ padding: 5px 12px; border: 1px solid #d5d8de; border-radius: 6px; background: white; }}
QPushButton:hover {{ background: #f2f4f8; }}
QPushButton#primaryButton {{ background: {ACCENT}; color: white; border: none; padding: 8px 18px; font-weight: 600; }}
QPushButton#primaryButton:hover {{ background: #265fc4; }}
QPushButton#failuresButton {{ border: none; color: #b45309; background: transparent; text-decoration: underline; }}
QFrame#banner {{ background: #eef4ff; border-bottom: 1px solid #d6e2fb; }}
QFrame#banner[kind="error"], QFrame#libraryNotice {{ background: #fff4e5; border-bottom: 1px solid #f5d9a8; }}
QFrame#viewerPanel {{ background: white; border: 1px solid #e5e7eb; border-radius: 10px; padding: 10px; }}
QWidget#viewer {{ background: #f4f4f5; }}
QStatusBar {{ background: #f0f1f4; border-top: 1px solid #e0e2e7; min-height: 30px; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QProgressBar {{ border: none; background: #dfe3ea; border-radius: 4px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QFrame#banner QProgressBar {{ min-height: 14px; }}
QPushButton:checked {{ background: #dde6f8; color: #1b3f8a; border: 1px solid {ACCENT}; }}
QToolButton#chip, QToolButton#toolButton {{
    border: 1px solid #d5d8de; border-radius: 11px; padding: 3px 10px; background: white;
}}
QToolButton#chip:hover, QToolButton#toolButton:hover {{ background: #f2f4f8; }}
QToolButton#chip:checked, QToolButton#toolButton:checked {{
    background: {ACCENT}; color: white; border: 1px solid {ACCENT};
}}
QToolButton#chipRemove {{ border: none; color: #6b7280; padding: 0 6px; font-size: 14px; }}
QToolButton#chipRemove:hover {{ color: #b91c1c; }}
QLabel#panelTitle {{ font-weight: 600; color: #1f2430; }}
QLabel#errorText {{ color: #b91c1c; }}
QLabel#heatValue {{ color: #1f2430; font-family: monospace; }}
QWidget#heatmapBar QScrollArea, QWidget#chipsBox {{ background: transparent; }}
QWidget#lossPlot {{ border: 1px solid #e5e7eb; }}
"""


class _Style(QProxyStyle):
    """Fusion without the stock icons on dialog buttons (a floppy disk on Save)."""

    def styleHint(self, hint, option=None, widget=None, returnData=None):  # type: ignore[no-untyped-def]
        if hint == QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons:
            return 0
        return super().styleHint(hint, option, widget, returnData)


def apply_style(app: QApplication) -> None:
    app.setStyle(_Style("Fusion"))
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.Window, QColor("#fafafa"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#1f2430"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#1f2430"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#6b7280"))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
