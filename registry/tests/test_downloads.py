"""Streaming helpers, without the database."""

import threading
import zipfile
import zlib

import pytest

from registry.downloads import (
    archive_name,
    download_filename,
    parse_range,
    read_ahead,
    zip_response,
)
from registry.exceptions import BlobCorruptedError, RegistryError
from registry.storage import BlobStore, read_window


class RecordingGuard:
    """An integrity guard that trusts nothing and remembers what it was told."""

    def __init__(self):
        self.trusted, self.verified_blobs, self.failures, self.done = {}, {}, [], False

    def verified(self, entry, identity):
        self.verified_blobs[entry.sha256] = identity

    def failed(self, error):
        self.failures.append(error)

    def finished(self):
        self.done = True


def test_read_ahead_yields_everything_in_order():
    assert list(read_ahead(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]


def test_read_ahead_reraises_the_producers_error():
    def broken():
        yield b"a"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(broken()))


def test_read_ahead_stops_its_thread_when_the_client_goes_away():
    def endless():
        while True:
            yield b"x" * 1024

    before = set(threading.enumerate())
    stream = read_ahead(endless(), depth=2)
    next(stream)
    started = set(threading.enumerate()) - before

    stream.close()

    assert [t.name for t in started] == ["zip-read-ahead"]
    assert not any(t.is_alive() for t in started)


def test_read_window_reads_a_range(tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(bytes(range(256)) * 10_000)

    with open(blob, "rb") as opened:
        chunks = list(read_window(opened, start=100, length=300))

    assert b"".join(chunks) == blob.read_bytes()[100:400]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges_raise(header):
    with pytest.raises(ValueError):
        parse_range(header, 1000)


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../b", "", "a\\b"])
def test_unsafe_archive_names_are_refused(name):
    with pytest.raises(RegistryError):
        archive_name(name)


def test_download_filename_is_safe():
    assert download_filename('Gemma "SFT" / 1B', "v1") == "Gemma_SFT_1B-v1.zip"
    climbing = download_filename("../..", "v1")
    assert "/" not in climbing
    assert not climbing.startswith(".")


def test_zip_has_correct_crcs_and_our_checksums_beside_a_shipped_sha256sums(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "model.safetensors").write_bytes(b"w" * 3_000_000)
    (source / "SHA256SUMS").write_text("shipped by the trainer\n")
    store = BlobStore(tmp_path / "store")
    stored = store.put_directory(source)

    response = zip_response(
        store, stored.manifest, filename="m-v1.zip", digest=stored.digest, guard=RecordingGuard()
    )
    archive = tmp_path / "m.zip"
    archive.write_bytes(b"".join(response.streaming_content))

    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == ["SHA256SUMS", "SHA256SUMS.tunix-rt", "model.safetensors"]
        stored_crc = z.getinfo("model.safetensors").CRC
        assert stored_crc == zlib.crc32(b"w" * 3_000_000)


def test_a_zip_whose_blob_changed_fails_midway_and_records_the_failure(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "a.bin").write_bytes(b"a" * 3_000_000)
    (source / "b.bin").write_bytes(b"b" * 3_000_000)
    store = BlobStore(tmp_path / "store")
    stored = store.put_directory(source)
    blob = store.blob_path(stored.manifest[1].sha256)
    blob.write_bytes(b"B" + b"b" * 2_999_999)  # same size, one byte flipped
    guard = RecordingGuard()

    response = zip_response(
        store, stored.manifest, filename="m-v1.zip", digest=stored.digest, guard=guard
    )
    received = bytearray()
    with pytest.raises(BlobCorruptedError):
        for chunk in response.streaming_content:
            received += chunk

    assert len(received) < int(response["Content-Length"])
    assert received.count(b"b") < 2_999_999  # the changed file's last chunk was never sent
    assert [error.path for error in guard.failures] == ["b.bin"]
    assert not guard.done
