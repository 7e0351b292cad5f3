"""The runs panel: the run files in the runs folder, live ones marked; double-click opens one.

The folder is listed in a worker thread every few seconds (each run file is opened to read
its status), so a folder of many runs never stalls the window.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..runfile import FAILED, RUNNING, STOPPED, status_label, status_sentence
from .theme import STATUS_COLOURS
from .workers_tasks import TaskThread

COLUMNS = ("", "run", "status", "steps", "best acc", "model")
STATUS_COLUMN = COLUMNS.index("status")


def _list(folder: Path):
    from ..runfile import list_runs

    if not folder.is_dir():
        return None
    summaries = list_runs(folder)
    ended = {str(s.path): _recorded_error(s.path) for s in summaries if s.status in (STOPPED, FAILED)}
    return summaries, ended


def _recorded_error(path: Path) -> str | None:
    """The error a run recorded as it ended: why it failed; "interrupted" tells an interrupt from Stop."""
    from ..errors import ResvizError
    from ..runfile import RunReader

    try:
        with RunReader(path) as reader:
            return reader.info().error
    except ResvizError:
        return None


class RunsPanel(QWidget):
    run_activated = Signal(str)  # path of the run file the user opened
    folder_changed = Signal(str)

    def __init__(self, folder: str | Path, parent: QWidget | None = None, *, interval_ms: int = 3000) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        change = QPushButton("Folder…")
        change.setObjectName("runsFolderButton")
        change.setToolTip("Choose the folder whose run files are listed")
        refresh = QPushButton("Refresh")
        header = QHBoxLayout()
        header.addWidget(self.folder_label, 1)
        header.addWidget(refresh)
        header.addWidget(change)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runsTree")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(False)
        self.tree.itemActivated.connect(self._activated)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label)
        change.clicked.connect(self._choose_folder)
        refresh.clicked.connect(self.refresh)
        self.summaries: list = []
        self._task: TaskThread | None = None
        self._pending = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self._show_folder()
        self.refresh()

    def _show_folder(self) -> None:
        self.folder_label.setText(f"<b>{self.folder.name or self.folder}</b>")
        self.folder_label.setToolTip(str(self.folder.resolve()))

    def set_folder(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._show_folder()
        self.folder_changed.emit(str(self.folder))
        self.refresh()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.folder))
        if folder:
            self.set_folder(folder)

    def refresh(self) -> None:
        """List the folder again (in a worker; a refresh asked for meanwhile runs after it)."""
        if self._task is not None:
            self._pending = True
            return
        folder = self.folder
        task = TaskThread(lambda progress, cancel: _list(folder), "list-runs")
        task.succeeded.connect(self._listed)
        task.failed.connect(self._list_failed)
        task.finished.connect(self._task_done)
        self._task = task
        task.start_task()

    def _task_done(self) -> None:
        self._task = None
        if self._pending:
            self._pending = False
            self.refresh()

    def _list_failed(self, message: str, details: str) -> None:
        self.empty_label.setText(message)
        self.empty_label.setVisible(True)

    def _listed(self, listing) -> None:
        if listing is None:
            self.summaries = []
            self.tree.clear()
            self.empty_label.setText(f"{self.folder} does not exist yet: runs you train appear here.")
            self.empty_label.setVisible(True)
            return
        summaries, errors = listing
        summaries = sorted(summaries, key=lambda s: s.updated, reverse=True)
        self.summaries = summaries
        selected = self.selected_path()
        self.tree.clear()
        for summary in summaries:
            acc = f"{100 * summary.best_acc:.1f}%" if summary.best_acc is not None else ""
            error = errors.get(str(summary.path), summary.error)
            status = status_label(summary.status, error, live=summary.live)
            item = QTreeWidgetItem(["●" if summary.live else "", summary.name, status, f"{summary.steps:,}", acc,
                                    summary.model])
            item.setData(0, Qt.UserRole, str(summary.path))
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated)) if summary.updated else ""
            tip = f"{summary.name}: {summary.model}\n{summary.path}\nupdated {when}\n{status_sentence(status, error)}"
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
            if summary.live:
                item.setForeground(0, QBrush(QColor(STATUS_COLOURS[RUNNING])))
            if status in STATUS_COLOURS:
                item.setForeground(STATUS_COLUMN, QBrush(QColor(STATUS_COLOURS[status])))
            self.tree.addTopLevelItem(item)
            if str(summary.path) == selected:
                self.tree.setCurrentItem(item)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self.empty_label.setText("No run files yet: press Train twins, or run 'resviz train'.")
        self.empty_label.setVisible(not summaries)

    def selected_path(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.UserRole) if item is not None else None

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.run_activated.emit(item.data(0, Qt.UserRole))

    def stop(self) -> None:
        """Stop listing (the window calls it when closing); waits for a listing under way."""
        self.timer.stop()
        task = self._task
        if task is not None:
            task.cancel()
            task.wait(10000)
