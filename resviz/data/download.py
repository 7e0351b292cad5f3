"""Downloading data set files: checksum-verified, atomic, with progress, tried mirror by mirror.

A download only happens when the user asked for it (``download=True`` / ``--download``).
The file is streamed to ``NAME.part`` while its MD5/SHA-256 are computed, and renamed into
place only when the checksum matches, so a broken or tampered download never sits where a
data set file is expected.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ResvizError
from ..limits import format_bytes

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None when unknown)
_CHUNK = 1 << 16
# The most a download may write (the largest published file, a CIFAR archive, is 170 MB): a server that
# announces or sends more is cut off before the disk fills.
DOWNLOAD_MAX_BYTES = 1_000_000_000
USER_AGENT = "resviz (data set download)"


@dataclass(frozen=True)
class Resource:
    """A published file: its name, where it can be fetched (mirrors in order) and its checksum."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None


def file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, read in chunks."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def checksum_problem(md5: str, sha256: str, expected_md5: str | None, expected_sha256: str | None) -> str | None:
    """A description of the mismatch, or None when the digests match what was expected."""
    if expected_sha256 and sha256 != expected_sha256.lower():
        return f"SHA-256 {sha256}, expected {expected_sha256.lower()}"
    if expected_md5 and md5 != expected_md5.lower():
        return f"MD5 {md5}, expected {expected_md5.lower()}"
    return None


def verify_file(path: Path, *, md5: str | None = None, sha256: str | None = None) -> bool:
    if not path.is_file():
        return False
    return checksum_problem(*file_digests(path), md5, sha256) is None


def download_file(url: str, dest: str | os.PathLike, *, md5: str | None = None, sha256: str | None = None,
                  progress: Progress | None = None, timeout: float = 60.0,
                  opener: Callable[..., Any] | None = None, max_bytes: int = DOWNLOAD_MAX_BYTES) -> Path:
    """Fetch ``url`` to ``dest``, verifying the checksum before the file appears at ``dest``; at most
    ``max_bytes`` are written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    open_url = opener or urllib.request.urlopen
    md5_hash, sha_hash = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with open_url(request, timeout=timeout) as response, open(partial, "wb") as out:
            total = _content_length(response)
            if total is not None and total > max_bytes:
                raise ResvizError(f"download of {url} refused: the server announces {format_bytes(total)}, more "
                                  f"than the {format_bytes(max_bytes)} a data set file can be")
            done = 0
            if progress:
                progress(0, total)
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                md5_hash.update(chunk)
                sha_hash.update(chunk)
                done += len(chunk)
                if done > max_bytes:
                    raise ResvizError(f"download of {url} stopped: it sent more than the {format_bytes(max_bytes)} "
                                      "a data set file can be")
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise ResvizError(f"download of {url} stopped after {done} of {total} bytes")
    except ResvizError:
        partial.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ResvizError(f"cannot download {url}: {reason}") from None
    problem = checksum_problem(md5_hash.hexdigest(), sha_hash.hexdigest(), md5, sha256)
    if problem:
        partial.unlink(missing_ok=True)
        raise ResvizError(f"download of {url} failed its checksum ({problem}); the file was discarded")
    os.replace(partial, dest)
    return dest


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def fetch_resource(resource: Resource, folder: str | os.PathLike, *, progress: Progress | None = None,
                   opener: Callable[..., Any] | None = None) -> Path:
    """The resource's file in ``folder``: reused when its checksum matches, else downloaded (mirrors in order)."""
    dest = Path(folder) / resource.filename
    if verify_file(dest, md5=resource.md5, sha256=resource.sha256):
        return dest
    failures = []
    for url in resource.urls:
        try:
            return download_file(url, dest, md5=resource.md5, sha256=resource.sha256, progress=progress,
                                 opener=opener)
        except ResvizError as exc:
            failures.append(str(exc))
    raise ResvizError(f"{resource.filename} could not be downloaded ({'; '.join(failures)}); download it by hand "
                      f"into {Path(folder)} and run again without --download")


def fetch_resources(resources: Sequence[Resource], folder: str | os.PathLike, *, show_progress: bool = True,
                    opener: Callable[..., Any] | None = None) -> list[Path]:
    paths = []
    for resource in resources:
        bar = ProgressBar(resource.filename) if show_progress else None
        try:
            paths.append(fetch_resource(resource, folder, progress=bar, opener=opener))
        finally:
            if bar is not None:
                bar.close()
    return paths


class ProgressBar:
    """A one-line text progress bar: ``name  42% [#####.......]  12.3/29.0 MB  3.1 MB/s``.

    On a terminal it redraws in place (at most ten times a second); elsewhere (a log file)
    it prints a line every 25%.
    """

    def __init__(self, label: str, stream: IO[str] | None = None, width: int = 24) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_quarter = -1
        self._drawn = False
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if self._interactive:
            if not finished and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            self.stream.write("\r" + self.render(done, total))
            self._drawn = True
        else:
            quarter = int(4 * done / total) if total else -1
            if quarter == self._last_quarter or (total is None and done):
                return
            self._last_quarter = quarter
            self.stream.write(self.render(done, total) + "\n")
        self.stream.flush()

    def render(self, done: int, total: int | None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = f"{done / elapsed / 1e6:.1f} MB/s"
        if total:
            fraction = min(done / total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            return f"{self.label}  {fraction:4.0%} [{bar}]  {done / 1e6:.1f}/{total / 1e6:.1f} MB  {rate}"
        return f"{self.label}  {done / 1e6:.1f} MB  {rate}"

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
