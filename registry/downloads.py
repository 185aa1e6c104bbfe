"""HTTP responses that stream a version's bytes: the whole version as a ZIP, or one file with Range.

Both stream from the blob store in constant memory. The ZIP is stored (weights do not compress),
laid out by `registry.archive` from the sizes and CRC-32s recorded at promotion, zip64 where
needed, so `Content-Length` is known up front. Under a server that writes the body synchronously
to the client's socket (gunicorn's sync and gthread workers, no TLS), each verified blob goes from
the page cache to that socket by `sendfile()` between the headers Python yields; anything else
goes through Python. A single file can be handed to the reverse proxy (`X-Accel-Redirect`,
`X-Sendfile`) when configured, or, from an object store, redirected to a short-lived presigned URL.

Both fail closed: a blob goes by the kernel or the proxy only while its file's identity is the
one recorded when it was last verified (`BlobStore.send_trusted` checks it again before the last
chunk); every other blob is read through `BlobStore.read_checked`, which hashes what it has not
seen verified and holds back each file's last chunk until it knows the bytes are the promoted
ones. A mismatch raises out of the response's iterator, so the server drops the connection
before the body is complete (`Content-Length` is always set): the client sees a failed,
truncated transfer.
"""

import itertools
import queue
import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Protocol

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from isal import isal_zlib

from registry.archive import Member, StoredZip
from registry.exceptions import BlobCorruptedError, RegistryError
from registry.storage import BlobIdentity, BlobStore, ManifestEntry, manifest_text

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


def kernel_socket(request) -> int | None:
    """Return the client socket's descriptor when the server writes the body to it as it comes.

    gunicorn puts the client socket in the WSGI environ; its sync and gthread workers write each
    chunk the response yields with a blocking `sendall` before asking for the next, so bytes
    sent to the socket between two chunks arrive in order. Not for TLS (an `ssl.SSLSocket`), a
    non-blocking socket (gevent, eventlet) or any other server: None, and Python sends it all.
    """
    if request is None or not settings.REGISTRY_ZIP_SENDFILE:
        return None
    client = request.META.get("gunicorn.socket")
    if type(client) is not socket.socket or client.gettimeout() is not None:
        return None
    return client.fileno()


def archive_chunks(
    store: BlobStore,
    manifest: list[ManifestEntry],
    archive: StoredZip,
    checksums: bytes,
    guard: "IntegrityGuard",
    socket_fd: int | None,
) -> Iterator[bytes]:
    """Yield the ZIP's bytes; with `socket_fd`, send verified blobs' bytes to it directly."""
    crcs = {}
    for index, (entry, member) in enumerate(zip(manifest, archive.members, strict=False)):
        yield archive.local_header(member)
        following = manifest[index + 1] if index + 1 < len(manifest) else None
        trusted = guard.trusted.get(entry.sha256)
        if (
            socket_fd is not None
            and not member.deferred
            and store.send_trusted(entry, trusted=trusted, socket_fd=socket_fd, then=following)
        ):
            continue
        crc = 0
        for chunk in store.read_checked(
            entry, trusted=trusted, then=following, on_verified=guard.verified
        ):
            if member.deferred:
                crc = isal_zlib.crc32(chunk, crc)
            yield chunk
        if member.deferred:
            crcs[index] = crc
            yield archive.descriptor(member, crc)
    yield archive.local_header(archive.members[-1]) + checksums
    yield archive.central_directory(crcs)


def zip_response(
    store: BlobStore,
    manifest: list[ManifestEntry],
    *,
    filename: str,
    digest: str,
    guard: IntegrityGuard,
    request=None,
) -> StreamingHttpResponse:
    """Stream the version as a ZIP with a SHA256SUMS file at its root; never a wrong byte.

    Pass the `request` to let verified blobs go by `sendfile()` where the server allows it.
    """
    names = [archive_name(entry.path) for entry in manifest]
    checksums = manifest_text(manifest).encode("utf-8")
    members = [
        Member(name, entry.size, entry.crc32) for name, entry in zip(names, manifest, strict=True)
    ]
    members.append(
        Member(
            CHECKSUMS_FALLBACK_NAME if CHECKSUMS_NAME in names else CHECKSUMS_NAME,
            len(checksums),
            isal_zlib.crc32(checksums),
        )
    )
    archive = StoredZip(members, modified=datetime.now())
    socket_fd = kernel_socket(request) if store.sends_by_kernel else None
    chunks = archive_chunks(store, manifest, archive, checksums, guard, socket_fd)
    if socket_fd is None:
        # Reading (and hashing or CRC) then overlaps with sending: both release the GIL. Not
        # with the socket: what the kernel sends must follow what was yielded before it.
        chunks = read_ahead(chunks)
    response = StreamingHttpResponse(guarded(chunks, guard), content_type="application/zip")
    response["Content-Length"] = str(archive.size)
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


def proxy_handoff(
    store: BlobStore, entry: ManifestEntry, guard: IntegrityGuard
) -> dict[str, str] | None:
    """Return the header that hands a blob to the object store or the reverse proxy, or None to
    stream it here.

    Only for a blob verified and unchanged now: the store's presigned URL (`Location`) or the
    proxy sends the bytes as they are, checking nothing, so a blob that must be hashed streams
    from here.
    """
    trusted = guard.trusted.get(entry.sha256)
    url = store.presigned_url(entry, trusted)
    if url is not None:
        return {"Location": url}
    prefix, header = settings.REGISTRY_ACCEL_REDIRECT_PREFIX, settings.REGISTRY_SENDFILE_HEADER
    if not (prefix or header) or not store.sends_by_kernel:
        return None
    if trusted is None or store.identity(entry.sha256) != trusted:
        return None
    if prefix:
        return {"X-Accel-Redirect": f"{prefix.rstrip('/')}/{entry.sha256[:2]}/{entry.sha256}"}
    return {header: str(store.blob_path(entry.sha256).resolve())}


def file_response(
    request, store: BlobStore, entry: ManifestEntry, *, filename: str, guard: IntegrityGuard
) -> HttpResponse:
    """Serve one stored file, honouring a single byte range (resumable downloads).

    A verified, unchanged blob is handed to the reverse proxy when one is configured (an empty
    body and `X-Accel-Redirect` or `X-Sendfile`: the proxy sends it, Range included). Otherwise
    it is streamed through Python rather than `sendfile()`, which would send a changed file whole
    before anything could notice: the last chunk waits for the check.
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
    handoff = proxy_handoff(store, entry, guard) if request.method != "HEAD" else None
    if handoff is not None and "Location" in handoff:
        # The client fetches the bytes from the object store; a Range header goes along.
        return HttpResponse(status=302, headers={**headers, **handoff})
    if handoff is not None:
        return HttpResponse(
            b"", content_type="application/octet-stream", headers={**headers, **handoff}
        )
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
