"""Downloads: file:// URLs and a stand-in opener (no network), checksums, mirrors, progress."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import pytest
import torch

import resviz.data.datasets as datasets_module
from resviz.data import ProgressBar, Resource, download_file, fetch_resource, load_dataset
from resviz.data.cifar import CIFAR10
from resviz.data.idx import MNIST
from resviz.errors import ResvizError

from data_format_writers import cifar_members, write_mnist_files, write_tar_gz


def test_download_verifies_and_reports_progress(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    calls = []
    dest = download_file(source.as_uri(), tmp_path / "out" / "file.bin", md5=md5, sha256=sha256,
                         progress=lambda done, total: calls.append((done, total)))
    assert dest.read_bytes() == source.read_bytes()
    assert calls[0] == (0, 256_000) and calls[-1] == (256_000, 256_000)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls) and len(calls) > 2


def test_a_checksum_mismatch_discards_the_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"tampered")
    dest = tmp_path / "file.bin"
    with pytest.raises(ResvizError, match=r"download of file://.*source.bin failed its checksum \(MD5 .*, expected "
                                          r"0+\); the file was discarded"):
        download_file(source.as_uri(), dest, md5="0" * 32)
    with pytest.raises(ResvizError, match="failed its checksum \\(SHA-256"):
        download_file(source.as_uri(), dest, sha256="f" * 64)
    assert list(tmp_path.iterdir()) == [source]  # neither the file nor a .part is left


class FakeResponse(io.BytesIO):
    def __init__(self, data, length=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}


def test_mirrors_are_tried_in_order_and_failures_are_explained(tmp_path):
    payload = b"x" * 5000
    resource = Resource("thing.bin", ("http://mirror-a/thing.bin", "http://mirror-b/thing.bin"),
                        md5=hashlib.md5(payload).hexdigest())
    asked = []

    def opener(request, timeout):
        asked.append(request.full_url)
        if "mirror-a" in request.full_url:
            raise OSError("connection refused")
        return FakeResponse(payload)

    path = fetch_resource(resource, tmp_path, opener=opener)
    assert path.read_bytes() == payload and asked == ["http://mirror-a/thing.bin", "http://mirror-b/thing.bin"]
    asked.clear()
    assert fetch_resource(resource, tmp_path, opener=opener) == path and asked == []  # verified copy is reused

    def short_reads(request, timeout):
        return FakeResponse(payload[:100], length=len(payload))

    with pytest.raises(ResvizError, match=r"thing.bin could not be downloaded \(download of http://mirror-a/thing.bin "
                                          r"stopped after 100 of 5000 bytes; .*download it by hand into"):
        fetch_resource(resource, tmp_path / "other", opener=short_reads)
    with pytest.raises(ResvizError, match="cannot download file://"):
        download_file((tmp_path / "nope").as_uri(), tmp_path / "nope.bin")


def test_load_dataset_downloads_mnist_only_when_asked(tmp_path, monkeypatch):
    published = tmp_path / "published"
    written = write_mnist_files(published, n_train=10, n_test=5, gz=True)
    checksums = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in published.iterdir()}
    fixture = dataclasses.replace(MNIST, mirrors=(published.as_uri() + "/",), md5=checksums)
    monkeypatch.setattr(datasets_module, "MNIST", fixture)
    data_dir = tmp_path / "data"
    with pytest.raises(ResvizError, match="data folder .*data does not exist"):
        load_dataset("mnist", data_dir=data_dir)
    data_dir.mkdir()
    with pytest.raises(ResvizError, match="MNIST train files not found .*pass --download"):
        load_dataset("mnist", data_dir=data_dir)
    assert not list(data_dir.iterdir())  # nothing fetched without download=True

    data = load_dataset("mnist", data_dir=data_dir, download=True)
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(checksums)
    assert torch.equal(data.images[:, 0], torch.from_numpy(written["train-images"]))

    bad = dataclasses.replace(fixture, md5={**checksums, "t10k-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setattr(datasets_module, "MNIST", bad)
    with pytest.raises(ResvizError, match="t10k-labels-idx1-ubyte.gz could not be downloaded .*failed its checksum"):
        load_dataset("mnist", split="test", data_dir=tmp_path / "fresh", download=True)


def test_load_dataset_downloads_the_cifar_archive(tmp_path, monkeypatch):
    members, originals = cifar_members("cifar10", per_batch=3)
    archive = write_tar_gz(tmp_path / "cifar-10-python.tar.gz", members)
    resource = Resource(archive.name, ("https://example.invalid/cifar-10-python.tar.gz",),
                        md5=hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(datasets_module, "CIFAR10", dataclasses.replace(CIFAR10, archive=resource))

    def opener(request, timeout):
        assert request.full_url == "https://example.invalid/cifar-10-python.tar.gz"
        return FakeResponse(archive.read_bytes())

    data = load_dataset("cifar10", split="test", data_dir=tmp_path / "data", download=True, opener=opener)
    assert torch.equal(data.images, torch.from_numpy(originals["test_batch"][b"data"].reshape(-1, 3, 32, 32)))
    assert (tmp_path / "data" / archive.name).read_bytes() == archive.read_bytes()


def test_progress_bar_text():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log = io.StringIO()
    bar = ProgressBar("file.gz", stream=log)
    for done in range(0, 1_000_001, 100_000):
        bar(done, 1_000_000)
    lines = log.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["0%", "30%", "50%", "80%", "100%"]  # a line per new quarter
    assert lines[-1].startswith("file.gz  100% [########################]  1.0/1.0 MB")

    terminal = Terminal()
    bar = ProgressBar("file.gz", stream=terminal)
    bar(500, 1000)
    bar(1000, 1000)
    bar.close()
    assert terminal.getvalue().startswith("\rfile.gz   50% [############............]")
    assert terminal.getvalue().endswith("\n") and terminal.getvalue().count("\r") == 2
