"""The S3 blob store against a real S3-protocol server (moto's, over HTTP on loopback)."""

import hashlib
import os
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from registry import s3store
from registry.exceptions import BlobCorruptedError, StorageError
from registry.s3store import S3BlobStore
from registry.storage import BlobStore
from registry.stores import blob_store
from registry.tests.s3server import create_bucket


@pytest.fixture
def store(s3_store, settings) -> S3BlobStore:
    settings.REGISTRY_S3_PRESIGN_SECONDS = 300
    return blob_store()


@pytest.fixture
def source(tmp_path):
    directory = tmp_path / "run"
    (directory / "nested").mkdir(parents=True)
    (directory / "adapter_config.json").write_text('{"r": 8}')
    (directory / "nested" / "weights.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    return directory


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of S3's smallest size, so a 12 MiB file is a three-part upload."""
    monkeypatch.setattr(s3store, "PART_SIZE", 5 * 1024 * 1024)


class S3Calls:
    """Counts the S3 operations the store's client sends, by name."""

    def __init__(self, client):
        self.client = client
        self.names: list[str] = []
        self._lock = threading.Lock()
        client.meta.events.register("before-call.s3", self._record)

    def _record(self, model, **kwargs):
        with self._lock:
            self.names.append(model.name)

    def count(self, name: str) -> int:
        return self.names.count(name)

    def close(self):
        self.client.meta.events.unregister("before-call.s3", self._record)


@pytest.fixture
def s3_calls(store):
    calls = S3Calls(store.client)
    yield calls
    calls.close()


def keys(store: S3BlobStore, prefix: str = "") -> list[str]:
    response = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + prefix)
    return sorted(item["Key"] for item in response.get("Contents", []))


def uploads(store: S3BlobStore) -> list[dict]:
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def overwrite(store: S3BlobStore, digest: str, data: bytes) -> None:
    store.client.put_object(Bucket=store.bucket, Key=store.blob_key(digest), Body=data)


def weights(stored):
    return next(e for e in stored.manifest if e.path == "nested/weights.bin")


def test_the_settings_choose_the_s3_store_for_an_s3_url(store, settings):
    assert isinstance(blob_store(), S3BlobStore)
    settings.REGISTRY_STORAGE_URL = ""
    assert isinstance(blob_store(), BlobStore)


def test_a_storage_url_of_another_scheme_is_a_configuration_error(settings):
    settings.REGISTRY_STORAGE_URL = "gs://bucket/prefix"
    with pytest.raises(ImproperlyConfigured, match="only s3://"):
        blob_store()


def test_a_directory_gets_the_same_digest_and_layout_as_on_the_filesystem(store, source, tmp_path):
    stored = store.put_directory(source)

    assert stored.digest == BlobStore(tmp_path / "fs").put_directory(source).digest
    assert (
        stored.uri
        == f"s3://{store.bucket}/registry/manifests/sha256/{stored.digest[:2]}/{stored.digest}"
    )
    assert keys(store, "blobs/") == sorted(store.blob_key(e.sha256) for e in stored.manifest)
    assert keys(store, "manifests/") == [store.manifest_key(stored.digest)]


def test_a_large_blob_goes_up_in_concurrent_parts_and_reads_back_whole(
    store, source, small_parts, s3_calls
):
    stored = store.put_directory(source)

    assert s3_calls.count("UploadPart") == 3
    assert s3_calls.count("CompleteMultipartUpload") == 1
    entry = weights(stored)
    assert b"".join(store.read_checked(entry)) == (source / entry.path).read_bytes()
    assert uploads(store) == []


def test_parts_grow_past_80_gib_to_stay_within_10000_parts():
    assert s3store.part_size(100 * 1024**3) * s3store.MAX_PARTS >= 100 * 1024**3
    assert s3store.part_size(1024**3) == s3store.PART_SIZE


def test_a_blob_already_stored_is_not_uploaded_again(store, source, small_parts, s3_calls):
    store.put_directory(source)
    (source / "adapter_config.json").write_text('{"r": 16}')
    uploaded_before = s3_calls.count("UploadPart")

    store.put_directory(source)

    assert s3_calls.count("UploadPart") == uploaded_before
    assert s3_calls.count("CreateMultipartUpload") == 1


def test_an_interrupted_upload_leaves_no_visible_object_and_no_open_upload(
    store, source, small_parts, monkeypatch
):
    real_upload_part = S3BlobStore._upload_part

    def fail_on_the_second_part(self, key, upload_id, number, data, crc):
        if number == 2:
            raise OSError("the network went away")
        return real_upload_part(self, key, upload_id, number, data, crc)

    monkeypatch.setattr(S3BlobStore, "_upload_part", fail_on_the_second_part)

    with pytest.raises(StorageError):
        store.put_directory(source)

    digest = hashlib.sha256((source / "nested" / "weights.bin").read_bytes()).hexdigest()
    assert not store.has_blob(digest)
    assert keys(store, "manifests/") == []
    assert uploads(store) == []
    assert s3store._parts_budget._value == s3store.PARTS_IN_MEMORY  # no part's memory kept


def test_a_file_that_changes_between_hashing_and_uploading_is_not_stored(
    store, source, small_parts, monkeypatch
):
    real_hash = S3BlobStore._hash_file

    def hash_then_change(source_file, progress):
        entry = real_hash(source_file, progress)
        if source_file.path == "nested/weights.bin":
            with open(source_file.absolute, "r+b") as f:
                f.write(b"changed")
        return entry

    monkeypatch.setattr(S3BlobStore, "_hash_file", staticmethod(hash_then_change))

    with pytest.raises(StorageError) as caught:
        store.put_directory(source)

    assert caught.value.code == "source_changed"
    assert keys(store, "manifests/") == []
    assert uploads(store) == []


def test_gc_aborts_stale_multipart_uploads(store):
    # moto reports every upload as initiated in 2010, so only "stale" can be shown here; S3 and
    # MinIO report the real time, and uploads younger than the grace are kept.
    key = store.blob_key("ab" * 32)
    store.client.create_multipart_upload(Bucket=store.bucket, Key=key)

    report = store.collect_garbage(
        referenced_blobs=set(), referenced_manifests=set(), grace_seconds=0
    )

    assert [str(path).split("?")[0] for path in report.temporary] == [key]
    assert uploads(store) == []


def test_a_dry_run_of_gc_aborts_nothing(store):
    store.client.create_multipart_upload(Bucket=store.bucket, Key=store.blob_key("cd" * 32))

    report = store.collect_garbage(
        referenced_blobs=set(), referenced_manifests=set(), grace_seconds=0, dry_run=True
    )

    assert len(report.temporary) == 1
    assert len(uploads(store)) == 1


def test_gc_deletes_only_unreferenced_objects_past_the_grace(store, source):
    stored = store.put_directory(source)
    keep = weights(stored).sha256

    young = store.collect_garbage(
        referenced_blobs={keep}, referenced_manifests=set(), grace_seconds=3600
    )
    assert young.blobs == [] and young.kept_young == 2

    report = store.collect_garbage(
        referenced_blobs={keep}, referenced_manifests=set(), grace_seconds=0
    )

    assert {path.name for path in report.blobs} == {e.sha256 for e in stored.manifest} - {keep}
    assert [path.name for path in report.manifests] == [stored.digest]
    assert keys(store, "blobs/") == [store.blob_key(keep)]
    assert keys(store, "manifests/") == []


def test_a_changed_object_is_refused_before_its_last_chunk(store, source):
    stored = store.put_directory(source)
    entry = weights(stored)
    data = bytearray((source / entry.path).read_bytes())
    data[-1] ^= 0xFF
    overwrite(store, entry.sha256, bytes(data))

    sent = []
    with pytest.raises(BlobCorruptedError):
        for chunk in store.read_checked(entry, trusted=stored.identities[entry.sha256]):
            sent.append(chunk)

    assert sum(map(len, sent)) < entry.size


def test_a_trusted_object_is_read_with_if_match_and_not_hashed(
    store, source, s3_calls, monkeypatch
):
    stored = store.put_directory(source)
    entry = weights(stored)
    monkeypatch.setattr(s3store.hashlib, "sha256", None)  # any hashing would fail

    data = b"".join(store.read_checked(entry, trusted=stored.identities[entry.sha256]))

    assert data == (source / entry.path).read_bytes()


def test_a_range_of_an_unverified_object_is_hashed_in_full_first(store, source):
    stored = store.put_directory(source)
    entry = weights(stored)
    data = (source / entry.path).read_bytes()
    verified = []

    part = b"".join(
        store.read_checked(entry, start=100, length=50, on_verified=lambda e, i: verified.append(i))
    )

    assert part == data[100:150]
    assert verified == [store.identity(entry.sha256)]


def test_a_range_of_a_changed_object_is_refused_before_any_byte(store, source):
    stored = store.put_directory(source)
    entry = weights(stored)
    overwrite(store, entry.sha256, b"x" * entry.size)

    with pytest.raises(BlobCorruptedError):
        next(store.read_checked(entry, start=100, length=50))


def test_a_missing_object_is_reported_as_missing(store, source):
    stored = store.put_directory(source)
    entry = weights(stored)
    store.client.delete_object(Bucket=store.bucket, Key=store.blob_key(entry.sha256))

    with pytest.raises(StorageError) as caught:
        next(store.read_checked(entry))
    assert caught.value.code == "blob_missing"
    assert not store.has_blob(entry.sha256)


def test_verify_reports_each_object_ok_mismatched_or_missing(store, source):
    stored = store.put_directory(source)
    config, blob = sorted(stored.manifest, key=lambda e: e.path)
    overwrite(store, blob.sha256, b"y" * blob.size)

    checks = {c.path: c.status for c in store.verify(stored.manifest)}
    assert checks == {config.path: "ok", blob.path: "mismatch"}

    store.client.delete_object(Bucket=store.bucket, Key=store.blob_key(config.sha256))
    assert store.verify([config])[0].status == "missing"


def test_a_presigned_url_is_given_only_for_a_trusted_unchanged_object(store, source):
    stored = store.put_directory(source)
    entry = weights(stored)
    trusted = stored.identities[entry.sha256]

    assert store.presigned_url(entry, None) is None
    assert store.presigned_url(entry, trusted).startswith(store.endpoint_url)
    overwrite(store, entry.sha256, b"z" * entry.size)
    assert store.presigned_url(entry, trusted) is None


def test_a_presigned_url_names_the_object_version_in_a_versioned_bucket(
    s3_server, settings, source
):
    settings.REGISTRY_STORAGE_URL = f"s3://{create_bucket(s3_server, versioned=True)}/registry"
    settings.REGISTRY_S3_ENDPOINT_URL = s3_server
    settings.REGISTRY_S3_PRESIGN_SECONDS = 300
    store = blob_store()
    stored = store.put_directory(source)
    entry = weights(stored)

    assert "versionId=" in store.presigned_url(entry, stored.identities[entry.sha256])


def test_no_presigned_urls_when_they_are_turned_off(settings, store, source):
    settings.REGISTRY_S3_PRESIGN_SECONDS = 0
    stored = blob_store().put_directory(source)
    entry = weights(stored)

    assert blob_store().presigned_url(entry, stored.identities[entry.sha256]) is None
