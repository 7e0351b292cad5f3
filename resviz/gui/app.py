"""Start the Qt application and the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def app_icon() -> QIcon:
    return QIcon(str(ASSETS / "icon.svg"))


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("resviz")
        self.setWindowIcon(app_icon())
        self.setCentralWidget(QLabel("resviz"))
        self.resize(1400, 900)


def run_app(target: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("resviz")
    app.setOrganizationName("resviz")
    app.setWindowIcon(app_icon())
    window = MainWindow()
    window.show()
    return app.exec()
