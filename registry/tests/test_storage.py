"""The blob store, on the filesystem alone (no database)."""

import errno
import hashlib
import os
import subprocess
import zlib

import pytest

from registry.exceptions import StorageError
from registry.storage import BlobStore, Progress, manifest_digest, scan_directory


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "registry")


@pytest.fixture
def model_dir(tmp_path):
    directory = tmp_path / "model"
    (directory / "tokenizer").mkdir(parents=True)
    (directory / "config.json").write_text('{"hidden_size": 16}\n')
    (directory / "model.safetensors").write_bytes(os.urandom(300_000))
    (directory / "tokenizer" / "tokenizer.json").write_text("{}")
    (directory / "README with spaces.md").write_text("# model\n")
    (directory / "Ünïcode-notes.txt").write_text("naïve\n")
    (directory / "B-upper.txt").write_text("sorts before lower case in C locale\n")
    return directory


def blob_files(store: BlobStore) -> list:
    return sorted(p for p in store.blobs.rglob("*") if p.is_file())


def sha256sum_pipeline(directory) -> str:
    """The one-liner from the docs, run with the real coreutils binaries."""
    command = (
        "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=directory, capture_output=True, text=True, check=True
    )
    return result.stdout.split()[0]


def test_digest_equals_the_sha256sum_pipeline(store, model_dir):
    stored = store.put_directory(model_dir)

    assert stored.digest == sha256sum_pipeline(model_dir)


def test_manifest_lists_relative_paths_sizes_and_hashes_sorted_by_bytes(store, model_dir):
    stored = store.put_directory(model_dir)

    paths = [entry.path for entry in stored.manifest]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert "tokenizer/tokenizer.json" in paths
    weights = next(e for e in stored.manifest if e.path == "model.safetensors")
    assert weights.size == 300_000
    assert (
        weights.sha256 == hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    )
    assert stored.size == sum(e.size for e in stored.manifest)


def test_blobs_are_named_by_their_content(store, model_dir):
    stored = store.put_directory(model_dir)

    for entry in stored.manifest:
        blob = store.root / "blobs" / "sha256" / entry.sha256[:2] / entry.sha256
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == entry.sha256


def test_manifest_is_stored_under_its_own_digest(store, model_dir):
    stored = store.put_directory(model_dir)

    text = store.manifest_path(stored.digest).read_bytes()
    assert hashlib.sha256(text).hexdigest() == stored.digest
    assert stored.uri.startswith("file://") and stored.uri.endswith(stored.digest)


def test_identical_files_are_stored_once(store, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
        (directory / "shared.bin").write_bytes(b"same weights" * 1000)
    (first / "only-a.txt").write_text("a")
    (second / "only-b.txt").write_text("b")

    store.put_directory(first)
    store.put_directory(second)

    assert len(blob_files(store)) == 3


def test_hash_directory_gives_the_same_digest_and_writes_nothing(store, model_dir):
    digest, manifest = store.hash_directory(model_dir)

    assert digest == sha256sum_pipeline(model_dir)
    assert digest == manifest_digest(manifest)
    assert not store.root.exists()


def test_a_symlink_is_refused_naming_its_path(tmp_path, model_dir):
    (model_dir / "leak").symlink_to("/etc/passwd")

    with pytest.raises(StorageError) as excinfo:
        scan_directory(model_dir)

    assert excinfo.value.code == "symlink_refused"
    assert "leak" in excinfo.value.message


def test_a_file_name_with_a_newline_is_refused(model_dir):
    (model_dir / "bad\nname").write_text("x")

    with pytest.raises(StorageError) as excinfo:
        scan_directory(model_dir)

    assert excinfo.value.code == "unsafe_file_name"


def test_a_write_failing_midway_leaves_no_partial_blob(store, model_dir, monkeypatch):
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)

    with pytest.raises(StorageError) as excinfo:
        store.put_directory(model_dir)

    assert "the disk is full" in excinfo.value.message
    assert list(store.tmp.glob("*")) == []
    for blob in blob_files(store):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert not store.manifests.exists()


def test_storing_again_after_a_failure_succeeds(store, model_dir, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        with pytest.raises(StorageError):
            store.put_directory(model_dir)

    stored = store.put_directory(model_dir)

    assert stored.digest == sha256sum_pipeline(model_dir)


def test_verify_reports_ok_for_intact_blobs(store, model_dir):
    stored = store.put_directory(model_dir)

    checks = store.verify(stored.manifest)

    assert {c.status for c in checks} == {"ok"}
    assert len(checks) == len(stored.manifest)


def test_verify_reports_a_tampered_and_a_missing_blob(store, model_dir):
    stored = store.put_directory(model_dir)
    weights = next(e for e in stored.manifest if e.path == "model.safetensors")
    config = next(e for e in stored.manifest if e.path == "config.json")
    store.blob_path(weights.sha256).write_bytes(b"tampered")
    store.blob_path(config.sha256).unlink()

    checks = {c.path: c for c in store.verify(stored.manifest)}

    assert checks["model.safetensors"].status == "mismatch"
    assert checks["config.json"].status == "missing"
    assert checks["tokenizer/tokenizer.json"].status == "ok"


class RecordingProgress(Progress):
    def __init__(self):
        self.phases, self.bytes, self.files = [], 0, []

    def begin(self, phase, *, total_bytes, total_files):
        self.phases.append((phase, total_bytes, total_files))

    def advance(self, nbytes, finished_path=None):
        self.bytes += nbytes
        if finished_path:
            self.files.append(finished_path)


def test_progress_reports_the_totals_then_every_byte_and_file(store, model_dir):
    progress = RecordingProgress()

    stored = store.put_directory(model_dir, progress=progress)

    assert progress.phases == [("storing", stored.size, len(stored.manifest))]
    assert progress.bytes == stored.size
    assert sorted(progress.files) == sorted(e.path for e in stored.manifest)


def test_a_filesystem_without_copy_file_range_stores_through_user_space(tmp_path, monkeypatch):
    def unsupported(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    source = tmp_path / "model"
    source.mkdir()
    content = os.urandom(3 * 1024 * 1024 + 17)
    (source / "weights.bin").write_bytes(content)
    store = BlobStore(tmp_path / "store")

    stored = store.put_directory(source)

    assert stored.manifest[0].sha256 == hashlib.sha256(content).hexdigest()
    assert store.blob_path(stored.manifest[0].sha256).read_bytes() == content


def test_a_short_copy_leaving_an_unaligned_offset_still_hashes_every_byte(tmp_path, monkeypatch):
    real_copy = os.copy_file_range
    monkeypatch.setattr(
        os, "copy_file_range", lambda src, dst, n: real_copy(src, dst, min(n, 1000))
    )
    source = tmp_path / "model"
    source.mkdir()
    content = os.urandom(10_000)
    (source / "weights.bin").write_bytes(content)

    stored = BlobStore(tmp_path / "store").put_directory(source)

    assert stored.manifest[0].sha256 == hashlib.sha256(content).hexdigest()


def test_storing_records_each_files_crc32_as_zlib_computes_it(store, tmp_path):
    source = tmp_path / "crc"
    source.mkdir()
    contents = {"a.bin": os.urandom(5 * 1024 * 1024 + 3), "empty": b"", "c.txt": b"hello"}
    for name, data in contents.items():
        (source / name).write_bytes(data)

    stored = store.put_directory(source)

    assert {e.path: e.crc32 for e in stored.manifest} == {
        name: zlib.crc32(data) for name, data in contents.items()
    }
    entry = next(e for e in stored.manifest if e.path == "a.bin")
    assert store.checksums(entry) == (entry.sha256, zlib.crc32(contents["a.bin"]))
