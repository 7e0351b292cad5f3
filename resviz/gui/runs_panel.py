"""The runs panel: the run files in the runs folder, twins paired in one row, each row's status
in its colour; double-click opens one (a pair opens side by side).

The folder is listed in a worker thread every few seconds (each run file is opened to read
its status), so a folder of many runs never stalls the window.
"""

from __future__ import annotations

from collections.abc import Collection
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

from ..views.runs_listing import RunsRow, runs_rows
from .theme import STATUS_COLOURS
from .workers_tasks import TaskThread

COLUMNS = ("status", "run")  # the steps are in the tooltip: the dock is narrow
STATUS_COLUMN, RUN_COLUMN = range(2)


def _list(folder: Path):
    from ..runfile import list_runs

    if not folder.is_dir():
        return None
    return list_runs(folder)


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
        self.tree.setUniformRowHeights(False)  # a row has two lines: its name, then its accuracies
        self.tree.setTextElideMode(Qt.ElideRight)
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
        self.rows: list[RunsRow] = []
        self._paused: tuple[str, ...] = ()
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

    def set_paused(self, paths: Collection[str | Path]) -> None:
        """The run files whose training is paused now (the window's training host says)."""
        paused = tuple(str(p) for p in paths)
        if paused != self._paused:
            self._paused = paused
            self._show_rows()

    def _listed(self, summaries) -> None:
        if summaries is None:
            self.summaries = []
            self.rows = []
            self.tree.clear()
            self.empty_label.setText(f"{self.folder} does not exist yet: runs you train appear here.")
            self.empty_label.setVisible(True)
            return
        self.summaries = list(summaries)
        self._show_rows()

    def _show_rows(self) -> None:
        self.rows = runs_rows(self.summaries, paused=self._paused)
        selected = self.selected_path()
        self.tree.clear()
        for row in self.rows:
            status = f"● {row.status}" if row.live else row.status
            item = QTreeWidgetItem([status, f"{row.when}  {row.title}\n{row.accuracy}"])
            item.setData(0, Qt.UserRole, str(row.path))
            item.setData(0, Qt.UserRole + 1, [str(p) for p in row.paths])
            tip = row.tooltip()
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
            colour = STATUS_COLOURS.get(row.status)
            if colour:
                item.setForeground(STATUS_COLUMN, QBrush(QColor(colour)))
            font = item.font(STATUS_COLUMN)
            font.setBold(True)
            item.setFont(STATUS_COLUMN, font)
            self.tree.addTopLevelItem(item)
            if selected is not None and selected in item.data(0, Qt.UserRole + 1):
                self.tree.setCurrentItem(item)
        self.tree.resizeColumnToContents(STATUS_COLUMN)
        self.empty_label.setText("No run files yet: press Train twins, or run 'resviz train'.")
        self.empty_label.setVisible(not self.rows)

    def row_of(self, path: str | Path) -> RunsRow | None:
        """The row that shows the run file at ``path``."""
        name = Path(path).name
        return next((row for row in self.rows if any(p.name == name for p in row.paths)), None)

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
