r"""Content-addressed storage for model versions in an S3-compatible object store.

The same contract as the local `registry.storage.BlobStore`, and the same layout under the store's
prefix (`REGISTRY_STORAGE_URL=s3://bucket/prefix`)::

    blobs/sha256/<2 hex>/<64 hex>       one object per distinct content, named by its SHA-256
    manifests/sha256/<2 hex>/<64 hex>   a version's manifest in `sha256sum` format

Nothing is visible before it is complete: a blob is a multipart upload (concurrent parts, bounded
memory) straight to its final key, and S3 shows no object until `CompleteMultipartUpload`, which
is only sent once the bytes uploaded hashed to the digest and size found by a first, local pass.
That first pass also names the key, so a blob already stored is not uploaded again (`HEAD`). An
interrupted upload stays an invisible multipart upload, which the garbage collector aborts once it
is older than the grace period.

A blob's identity is its object's size, `ETag` and `Last-Modified`: any write replaces the object
and changes them. Reads of a trusted blob send `If-Match` with the trusted `ETag`, so S3 itself
refuses to send other bytes; any other read is hashed as it is sent, as on the filesystem.

This module knows nothing of Django: `registry.stores` builds it from the settings.
"""

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from isal import isal_zlib

from registry.exceptions import StorageError
from registry.storage import (
    HEX64,
    MAX_WORKERS,
    NO_PROGRESS,
    BlobIdentity,
    ContentHasher,
    FileCheck,
    GarbageReport,
    ManifestEntry,
    Progress,
    SourceFile,
    StoredDirectory,
    corrupted,
    manifest_digest,
    manifest_text,
    scan_directory,
    sort_key,
)

# Parts of 8 MiB, as boto3's transfers use (S3's smallest is 5 MiB, but the last), larger for a
# file past 80 GiB: an upload has at most 10,000 parts.
PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000


def part_size(size: int) -> int:
    """Return the part size for a blob of `size` bytes: PART_SIZE, or more for a huge blob."""
    mib = 1024 * 1024
    return max(PART_SIZE, -(-size // MAX_PARTS // mib) * mib)


# Parts of one blob in flight at once, and of all uploads in the process: what promotions hold
# in memory is at most PARTS_IN_MEMORY parts (64 MiB), however many files and promotions run.
PARTS_IN_FLIGHT = 4
PARTS_IN_MEMORY = 8
_parts_budget = threading.BoundedSemaphore(PARTS_IN_MEMORY)
# Fewer, larger reads and writes: 4 MiB chunks read 10% faster than 1 MiB ones from moto.
READ_CHUNK_SIZE = 4 * 1024 * 1024
HASH_CHUNK_SIZE = 4 * 1024 * 1024

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def s3_client(endpoint_url: str | None, region: str | None):
    """Return a shared boto3 S3 client (they are thread-safe, and slow to build)."""
    key = (endpoint_url or None, region or None)
    with _clients_lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            _clients[key] = boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                config=Config(
                    max_pool_connections=4 * MAX_WORKERS * PARTS_IN_FLIGHT,
                    retries={"mode": "standard", "max_attempts": 5},
                    # Path-style addressing works with every S3-compatible server (MinIO, moto).
                    s3={"addressing_style": "path"},
                ),
            )
        return _clients[key]


def parse_storage_url(url: str) -> tuple[str, str]:
    """Return (bucket, key prefix ending in "/" or empty) of an `s3://bucket/prefix` URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says of one stored object."""

    size: int
    etag: str
    last_modified: datetime
    version_id: str | None

    @property
    def identity(self) -> BlobIdentity:
        """The blob's identity: a write replaces the object, and changes its ETag and date."""
        modified_ns = int(self.last_modified.timestamp() * 1_000_000) * 1000
        return BlobIdentity(self.size, 0, 0, modified_ns, modified_ns, etag=self.etag)


def object_info(response: dict) -> ObjectInfo:
    """Return the object's info from a HEAD or GET response (a ranged GET included)."""
    size = response["ContentLength"]
    content_range = response.get("ContentRange")
    if content_range:
        size = int(content_range.rsplit("/", 1)[1])
    return ObjectInfo(
        size, response["ETag"], response["LastModified"], response.get("VersionId") or None
    )


def error_code(exc) -> str:
    """Return the S3 error code of a botocore ClientError ("404", "NoSuchKey", ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
CHANGED_CODES = {"412", "PreconditionFailed"}


class S3BlobStore:
    """A content-addressed store of blobs and manifests under one prefix of one S3 bucket."""

    # Bytes come from the network, not a file: the kernel cannot send them to a socket.
    sends_by_kernel = False

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        presign_seconds: int = 0,
    ):
        self.url = url
        self.bucket, self.prefix = parse_storage_url(url)
        self.endpoint_url = endpoint_url
        self.presign_seconds = presign_seconds
        self.client = s3_client(endpoint_url, region)

    # ---- addressing -----------------------------------------------------------------------------

    def blob_key(self, digest: str) -> str:
        """Return the key of the blob with SHA-256 `digest`."""
        return f"{self.prefix}blobs/sha256/{digest[:2]}/{digest}"

    def manifest_key(self, digest: str) -> str:
        """Return the key of the manifest of the version with `digest`."""
        return f"{self.prefix}manifests/sha256/{digest[:2]}/{digest}"

    def manifest_uri(self, digest: str) -> str:
        """Return the storage URI recorded for a version."""
        return f"s3://{self.bucket}/{self.manifest_key(digest)}"

    def head(self, key: str) -> ObjectInfo | None:
        """Return what S3 says of the object at `key`, or None when there is none."""
        from botocore.exceptions import ClientError

        try:
            return object_info(self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise self._failure("read", key, exc) from exc

    def has_blob(self, digest: str) -> bool:
        """Return whether a blob with `digest` is stored."""
        return self.head(self.blob_key(digest)) is not None

    def identity(self, digest: str) -> BlobIdentity | None:
        """Return the stored blob's identity now, or None when it is missing."""
        info = self.head(self.blob_key(digest))
        return info.identity if info is not None else None

    def presigned_url(self, entry: ManifestEntry, trusted: BlobIdentity | None) -> str | None:
        """Return a short-lived URL of a trusted, unchanged blob, or None to stream it here.

        Only for a blob verified before whose object is the same now; when the bucket keeps
        versions the URL names the object version, so it can only ever return those bytes.
        """
        if not self.presign_seconds or trusted is None:
            return None
        info = self.head(self.blob_key(entry.sha256))
        if info is None or info.identity != trusted:
            return None
        params = {"Bucket": self.bucket, "Key": self.blob_key(entry.sha256)}
        if info.version_id:
            params["VersionId"] = info.version_id
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds
        )

    # ---- writing --------------------------------------------------------------------------------

    def put_directory(self, source: Path, *, progress: Progress = NO_PROGRESS) -> StoredDirectory:
        """Store every regular file under `source`, then its manifest; return what was stored.

        Hashes each file first, to learn its key and skip blobs already stored; then uploads the
        others, hashing them again as they go, and completes an upload only if that hash agrees.
        """
        files = scan_directory(source)
        progress.begin("hashing", total_bytes=sum(f.size for f in files), total_files=len(files))
        hashed = self._map_files(files, lambda f: (f, self._hash_file(f, progress)))
        missing, identities = [], {}
        for file, entry in hashed:
            info = self.head(self.blob_key(entry.sha256))
            if info is not None and info.size == entry.size:
                identities[entry.sha256] = info.identity
            else:
                missing.append((file, entry))
        progress.begin(
            "uploading",
            total_bytes=sum(entry.size for _, entry in missing),
            total_files=len(missing),
        )
        # A multipart blob's parts already go up concurrently: those blobs one at a time (moto,
        # measured, burns a fifth more CPU under four blobs' parts at once), small ones together.
        large = [item for item in missing if item[1].size > part_size(item[1].size)]
        small = [item for item in missing if item[1].size <= part_size(item[1].size)]
        uploaded = [self._upload_blob(*item, progress) for item in large]
        uploaded += self._map_files(small, lambda item: self._upload_blob(*item, progress))
        for entry, identity in uploaded:
            identities[entry.sha256] = identity
        entries = [entry for _, entry in hashed]
        digest = manifest_digest(entries)
        self._put_small(self.manifest_key(digest), manifest_text(entries).encode("utf-8"))
        return StoredDirectory(
            uri=self.manifest_uri(digest),
            digest=digest,
            size=sum(entry.size for entry in entries),
            manifest=sorted(entries, key=lambda e: sort_key(e.path)),
            identities=identities,
        )

    def hash_directory(
        self, source: Path, *, progress: Progress = NO_PROGRESS
    ) -> tuple[str, list[ManifestEntry]]:
        """Hash `source` as `put_directory` would, writing nothing; return (digest, manifest)."""
        files = scan_directory(source)
        progress.begin("hashing", total_bytes=sum(f.size for f in files), total_files=len(files))
        entries = self._map_files(files, lambda f: self._hash_file(f, progress))
        return manifest_digest(entries), sorted(entries, key=lambda e: sort_key(e.path))

    @staticmethod
    def _map_files(items, worker) -> list:
        def size(item):
            return item.size if isinstance(item, SourceFile) else item[1].size

        # Largest first, so the big blobs start at once and small ones fill the gaps.
        ordered = sorted(items, key=size, reverse=True)
        if len(ordered) <= 1 or MAX_WORKERS == 1:
            return [worker(item) for item in ordered]
        with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="s3store") as pool:
            return list(pool.map(worker, ordered))

    @staticmethod
    def _hash_file(source: SourceFile, progress: Progress) -> ManifestEntry:
        hasher = ContentHasher()
        size = 0
        buffer = bytearray(HASH_CHUNK_SIZE)
        view = memoryview(buffer)
        try:
            with open(source.absolute, "rb") as reader:
                while n := reader.readinto(buffer):
                    hasher.update(view[:n])
                    size += n
                    progress.advance(n)
        except OSError as exc:
            raise StorageError(f"Could not read {source.path}: {exc.strerror or exc}.") from exc
        progress.advance(0, source.path)
        return ManifestEntry(source.path, size, hasher.hexdigest(), hasher.crc32)

    def _upload_blob(
        self, source: SourceFile, entry: ManifestEntry, progress: Progress
    ) -> tuple[ManifestEntry, BlobIdentity]:
        key = self.blob_key(entry.sha256)
        if entry.size <= part_size(entry.size):
            data = self._read_part(source, 0, entry.size)
            if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                raise self._changed(source)
            self._put_small(key, data)
            progress.advance(len(data), source.path)
        else:
            self._upload_parts(source, entry, key, progress)
        info = self.head(key)
        if info is None or info.size != entry.size:
            raise StorageError(
                f"Could not store {source.path}: the object store holds "
                f"{'nothing' if info is None else f'{info.size} bytes'} for it after the upload, "
                f"not {entry.size} bytes. Nothing was promoted; retry."
            )
        return entry, info.identity

    def _upload_parts(self, source, entry, key, progress) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # Each part carries a CRC-32 the store checks on arrival, as
            # boto3's own transfers do; without it, moto checksums the whole object at the end.
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ChecksumAlgorithm="CRC32"
            )["UploadId"]
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("store", source.path, exc) from exc
        completed = False
        try:
            sha = hashlib.sha256()
            parts, in_flight = [], set()
            with (
                open(source.absolute, "rb") as reader,
                ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT) as pool,
            ):
                number, uploaded = 1, 0
                while True:
                    if len(in_flight) >= PARTS_IN_FLIGHT:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        parts.extend(future.result() for future in done)
                    _parts_budget.acquire()
                    try:
                        data = reader.read(part_size(entry.size))
                    except BaseException:
                        _parts_budget.release()
                        raise
                    if not data:
                        _parts_budget.release()
                        break
                    sha.update(data)
                    uploaded += len(data)
                    crc = isal_zlib.crc32(data)
                    in_flight.add(pool.submit(self._send_part, key, upload_id, number, data, crc))
                    number += 1
                    progress.advance(len(data))
                parts.extend(future.result() for future in wait(in_flight).done)
            # What was uploaded must be what was hashed (and named the key) in the first pass.
            if uploaded != entry.size or sha.hexdigest() != entry.sha256:
                raise self._changed(source)
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])},
            )
            completed = True
        except OSError as exc:
            raise StorageError(f"Could not read {source.path}: {exc.strerror or exc}.") from exc
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("store", source.path, exc) from exc
        finally:
            if not completed:
                self._abort(key, upload_id)
        progress.advance(0, source.path)

    def _send_part(self, *args) -> dict:
        try:
            return self._upload_part(*args)
        finally:
            _parts_budget.release()  # acquired by the reader for this part's bytes

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes, crc: int) -> dict:
        # The part's CRC-32 from ISA-L (3x zlib's speed, which botocore would use otherwise).
        checksum = base64.b64encode(crc.to_bytes(4, "big")).decode()
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumCRC32=checksum,
        )
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32": checksum}

    def _abort(self, key: str, upload_id: str) -> None:
        # When even this fails, the collector aborts what is left once it is stale.
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    @staticmethod
    def _read_part(source: SourceFile, offset: int, length: int) -> bytes:
        try:
            with open(source.absolute, "rb") as reader:
                reader.seek(offset)
                return reader.read(length)
        except OSError as exc:
            raise StorageError(f"Could not read {source.path}: {exc.strerror or exc}.") from exc

    def _put_small(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.md5(data, usedforsecurity=False).digest()
        try:
            # Content-MD5 makes S3 refuse a body damaged on the way.
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentMD5=base64.b64encode(digest).decode()
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("store", key.rsplit("/", 1)[-1][:12], exc) from exc

    @staticmethod
    def _changed(source: SourceFile) -> StorageError:
        return StorageError(
            f"{source.path} changed while it was being promoted: nothing was promoted. "
            "Promote the run again once nothing writes to its output directory.",
            code="source_changed",
        )

    @staticmethod
    def _failure(verb: str, what: str, exc) -> StorageError:
        advice = " Nothing was promoted; retry once the store answers." if verb == "store" else ""
        return StorageError(f"Could not {verb} {what} in the object store: {exc}.{advice}")

    # ---- collecting ---------------------------------------------------------------------------

    def collect_garbage(
        self,
        *,
        referenced_blobs: set[str],
        referenced_manifests: set[str],
        grace_seconds: int,
        dry_run: bool = False,
    ) -> GarbageReport:
        """Remove unreferenced blobs and manifests, and abort stale multipart uploads.

        Call it holding the exclusive lock, with the references read under that lock.
        Anything younger than `grace_seconds` may belong to a promotion in flight and is kept.
        """
        cutoff = time.time() - grace_seconds
        report = GarbageReport([], [], [], 0, 0)
        paginator = self.client.get_paginator("list_objects_v2")
        for kind, referenced, found in (
            ("blobs", referenced_blobs, report.blobs),
            ("manifests", referenced_manifests, report.manifests),
        ):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{kind}/"):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if not HEX64.match(name) or name in referenced:
                        continue
                    if item["LastModified"].timestamp() > cutoff:
                        report.kept_young += 1
                        continue
                    found.append(PurePosixPath(item["Key"]))
                    report.bytes_freed += item["Size"]
        stale_uploads = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() <= cutoff:
                    stale_uploads.append(upload)
                    report.temporary.append(
                        PurePosixPath(f"{upload['Key']}?uploadId={upload['UploadId']}")
                    )
        if not dry_run:
            keys = [str(path) for path in [*report.blobs, *report.manifests]]
            for start in range(0, len(keys), 1000):
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
                )
            for upload in stale_uploads:
                self._abort(upload["Key"], upload["UploadId"])
        return report

    # ---- reading --------------------------------------------------------------------------------

    def _get(self, entry: ManifestEntry, *, byte_range: str | None = None, if_match=None):
        from botocore.exceptions import BotoCoreError, ClientError

        params = {"Bucket": self.bucket, "Key": self.blob_key(entry.sha256)}
        if byte_range:
            params["Range"] = byte_range
        if if_match:
            params["IfMatch"] = if_match
        try:
            return self.client.get_object(**params)
        except ClientError as exc:
            code = error_code(exc)
            if code in MISSING_CODES:
                raise StorageError(
                    f"The stored bytes of {entry.path} are missing.", code="blob_missing"
                ) from None
            if code in CHANGED_CODES:
                return None
            raise self._failure("read", entry.path, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("read", entry.path, exc) from exc

    def _hash_object(self, entry: ManifestEntry, progress: Progress = NO_PROGRESS):
        """Return (sha256, crc32, identity) of the stored object's whole content, read once."""
        response = self._get(entry)
        info = object_info(response)
        hasher = ContentHasher()
        for chunk in response["Body"].iter_chunks(HASH_CHUNK_SIZE):
            hasher.update(chunk)
            progress.advance(len(chunk))
        return hasher.hexdigest(), hasher.crc32, info.identity

    def read_checked(
        self,
        entry: ManifestEntry,
        *,
        trusted: BlobIdentity | None = None,
        start: int = 0,
        length: int | None = None,
        then: ManifestEntry | None = None,
        on_verified=None,
    ) -> Iterator[bytes]:
        """Yield a blob's bytes, `length` of them from `start` (all when None), never wrong ones.

        As `BlobStore.read_checked`: a trusted blob is read with `If-Match` on its ETag (S3 sends
        those bytes or none); any other is hashed as it is sent, the last chunk held back until
        the digest matches, and a part of one is hashed in full first. `then` is unused: the
        caller reads ahead. Raises BlobCorruptedError on a mismatch, StorageError when missing.
        """
        end = entry.size if length is None else min(entry.size, start + length)
        whole = start == 0 and end >= entry.size
        byte_range = None if whole else f"bytes={start}-{end - 1}"
        response = None
        if trusted is not None and trusted.etag:
            response = self._get(entry, byte_range=byte_range, if_match=trusted.etag)
            if response is not None and object_info(response).identity != trusted:
                response["Body"].close()
                response = None  # same ETag, rewritten since: check it like any other
            verified = response is not None
        if response is None:
            verified = False
            if not whole:
                # Nothing of a part can be checked alone: hash it all first (it is then cached).
                actual, _, identity = self._hash_object(entry)
                if identity.size != entry.size:
                    raise corrupted(entry, None, f"is {identity.size} bytes, not {entry.size}")
                if actual != entry.sha256:
                    raise corrupted(entry, actual, "no longer matches its digest")
                if on_verified is not None:
                    on_verified(entry, identity)
                response = self._get(entry, byte_range=byte_range, if_match=identity.etag)
                if response is None:
                    raise corrupted(
                        entry, None, "changed in the store while it was being sent", certain=False
                    )
                verified = True
            else:
                response = self._get(entry)
        identity = object_info(response).identity
        if identity.size != entry.size:
            response["Body"].close()
            raise corrupted(entry, None, f"is {identity.size} bytes, not {entry.size}")
        sha = None if verified else hashlib.sha256()
        held = None
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(READ_CHUNK_SIZE):
                if sha is not None:
                    sha.update(chunk)
                if held is not None:
                    yield held
                held = chunk
        finally:
            body.close()
        if sha is not None:
            if sha.hexdigest() != entry.sha256:
                raise corrupted(entry, sha.hexdigest(), "no longer matches its digest")
            if on_verified is not None:
                on_verified(entry, identity)
        if held is not None:
            yield held

    def send_trusted(self, entry, *, trusted, socket_fd, then=None) -> bool:
        """Never: an object's bytes cannot go to a socket without passing through Python."""
        return False

    def checksums(self, entry: ManifestEntry) -> tuple[str, int]:
        """Return the SHA-256 (hex) and CRC-32 of a stored blob's bytes, read once."""
        sha256, crc32, _ = self._hash_object(entry)
        return sha256, crc32

    def verify(
        self, manifest: list[ManifestEntry], *, progress: Progress = NO_PROGRESS
    ) -> list[FileCheck]:
        """Re-hash each file's blob against the manifest; return one check per file."""
        progress.begin(
            "verifying", total_bytes=sum(e.size for e in manifest), total_files=len(manifest)
        )

        def check(entry: ManifestEntry) -> FileCheck:
            try:
                # The identity is the GET's own: exactly the object whose bytes were hashed.
                actual, _, identity = self._hash_object(entry, progress)
            except StorageError as exc:
                if exc.code == "blob_missing":
                    return FileCheck(entry.path, entry.sha256, None, "missing")
                raise
            progress.advance(0, entry.path)
            status = "ok" if actual == entry.sha256 else "mismatch"
            return FileCheck(entry.path, entry.sha256, actual, status, identity)

        with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="verify") as pool:
            return list(pool.map(check, manifest))
