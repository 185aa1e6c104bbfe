"""HTTP responses that stream a version's bytes: the whole version as a ZIP, or one file with Range.

Both stream from the blob store in constant memory. The ZIP is built by zipstream-ng: stored
(weights do not compress), zip64 where needed, and sized, so `Content-Length` is known up front.

Both fail closed: every blob is read through `BlobStore.read_checked`, which hashes what it has not
seen verified and holds back each file's last chunk until it knows the bytes are the promoted ones.
A mismatch raises out of the response's iterator, so the server drops the connection before the
body is complete (`Content-Length` is always set): the client sees a failed, truncated transfer.
"""

import itertools
import queue
import re
import threading
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Protocol

import zipstream.ng
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from isal import isal_zlib
from zipstream import ZIP_STORED, ZipStream

from registry.exceptions import BlobCorruptedError, RegistryError
from registry.storage import BlobIdentity, BlobStore, ManifestEntry, manifest_text

# zipstream-ng computes each entry's CRC-32 with zlib's, which at ~4 GiB/s here costs more CPU
# than reading and sending the bytes. ISA-L's is bit-identical and an order of magnitude faster
# (bench/download.py); zipstream-ng looks the name up in its module at call time.
zipstream.ng.crc32 = isal_zlib.crc32

# Chunks the archive builder may run ahead of the socket: bounds memory at a few MiB.
READ_AHEAD_CHUNKS = 8
CHECKSUMS_NAME = "SHA256SUMS"
# If a version itself holds a SHA256SUMS file, ours gets this name instead of clobbering it.
CHECKSUMS_FALLBACK_NAME = "SHA256SUMS.tunix-rt"
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
RANGE_HEADER = re.compile(r"^bytes=(\d*)-(\d*)$")


def read_ahead(chunks: Iterator[bytes], depth: int = READ_AHEAD_CHUNKS) -> Iterator[bytes]:
    """Yield from `chunks`, produced by a thread up to `depth` ahead of the consumer.

    Building the ZIP (reading blobs, CRC-32) and sending it then overlap: both release the GIL.
    Stops the producer when the consumer goes away (a client that disconnects).
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put(chunk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)

    producer = threading.Thread(target=produce, name="zip-read-ahead", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():
            try:
                handoff.get_nowait()
            except queue.Empty:
                producer.join(timeout=0.1)


def archive_name(path: str) -> str:
    """Return `path` as a ZIP entry name, refusing anything absolute or climbing out."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not path or "\\" in path:
        raise RegistryError(
            f"Refusing unsafe file name {path!r} in the archive.", code="unsafe_path"
        )
    return pure.as_posix()


def download_filename(model_name: str, version_label: str, suffix: str = ".zip") -> str:
    """Return `<model>-<version>.zip` with anything but letters, digits, `.`, `_`, `-` replaced."""
    stem = SAFE_FILENAME.sub("_", f"{model_name}-{version_label}").strip("._") or "model"
    return stem + suffix


class IntegrityGuard(Protocol):
    """What a download needs to know and tell about the integrity of the blobs it serves."""

    trusted: dict[str, BlobIdentity]  # digest -> identity of a blob verified and untouched since

    def verified(self, entry: ManifestEntry, identity: BlobIdentity) -> None:
        """Note a blob hashed in full that matched (called from any thread)."""

    def failed(self, error: BlobCorruptedError) -> None:
        """Record a blob found changed while it was being sent."""

    def finished(self) -> None:
        """Record what the completed download verified."""


def guarded(chunks: Iterator[bytes], guard: IntegrityGuard) -> Iterator[bytes]:
    """Yield `chunks`; record a mismatch and re-raise it, so the transfer fails; note success."""
    try:
        yield from chunks
    except BlobCorruptedError as exc:
        guard.failed(exc)
        raise
    guard.finished()


def zip_response(
    store: BlobStore,
    manifest: list[ManifestEntry],
    *,
    filename: str,
    digest: str,
    guard: IntegrityGuard,
) -> StreamingHttpResponse:
    """Stream the version as a ZIP with a SHA256SUMS file at its root; never a wrong byte."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    names = set()
    for index, entry in enumerate(manifest):
        name = archive_name(entry.path)
        names.add(name)
        following = manifest[index + 1] if index + 1 < len(manifest) else None
        chunks = store.read_checked(
            entry,
            trusted=guard.trusted.get(entry.sha256),
            then=following,
            on_verified=guard.verified,
        )
        archive.add(chunks, name, size=entry.size)
    checksums = CHECKSUMS_FALLBACK_NAME if CHECKSUMS_NAME in names else CHECKSUMS_NAME
    archive.add(manifest_text(manifest).encode("utf-8"), checksums)
    response = StreamingHttpResponse(
        guarded(read_ahead(iter(archive)), guard), content_type="application/zip"
    )
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = content_disposition_header(True, filename)
    # Weak: the archive's entry timestamps vary, the content (the digest) does not.
    response["ETag"] = f'W/"{digest}"'
    return response


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Return (start, end inclusive) for a single `bytes=` range, None to serve it all.

    Raises ValueError when the range cannot be satisfied.
    """
    match = RANGE_HEADER.match(header.strip())
    if not match:
        return None  # several ranges or another unit: serving the whole file is allowed
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def file_response(
    request, store: BlobStore, entry: ManifestEntry, *, filename: str, guard: IntegrityGuard
) -> HttpResponse:
    """Serve one stored file, honouring a single byte range (resumable downloads).

    Streamed through Python rather than `sendfile()`, which would send a changed file whole before
    anything could notice: the last chunk waits for the check.
    """
    size, sha256 = entry.size, entry.sha256
    etag = f'"{sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition_header(True, filename),
    }
    if request.headers.get("If-None-Match") in (etag, f"W/{etag}", "*"):
        return HttpResponse(status=304, headers={"ETag": etag})
    byte_range = None
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and (if_range is None or if_range == etag):
        try:
            byte_range = parse_range(range_header, size)
        except ValueError:
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = byte_range if byte_range is not None else (0, size - 1)
    chunks = store.read_checked(
        entry,
        trusted=guard.trusted.get(sha256),
        start=start,
        length=end - start + 1,
        on_verified=guard.verified,
    )
    if byte_range is not None:
        # A range of an unverified blob is hashed in full before its first byte: start now, so
        # a mismatch is a refusal rather than a truncated 206.
        try:
            first = next(chunks, b"")
        except BlobCorruptedError as exc:
            guard.failed(exc)
            raise
        chunks = itertools.chain([first], chunks)
    response = StreamingHttpResponse(
        guarded(chunks, guard),
        status=206 if byte_range is not None else 200,
        content_type="application/octet-stream",
        headers=headers,
    )
    if byte_range is not None:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    return response
