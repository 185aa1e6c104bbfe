"""HTTP responses that stream a version's bytes: the whole version as a ZIP, or one file with Range.

Both stream from the blob store in constant memory. The ZIP is built by zipstream-ng: stored
(weights do not compress), zip64 where needed, and sized, so `Content-Length` is known up front.
"""

import os
import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import zipstream.ng
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from isal import isal_zlib
from zipstream import ZIP_STORED, ZipStream

from registry.exceptions import RegistryError
from registry.storage import BlobStore, ManifestEntry, manifest_text

# zipstream-ng computes each entry's CRC-32 with zlib's, which at ~4 GiB/s here costs more CPU
# than reading and sending the bytes. ISA-L's is bit-identical and an order of magnitude faster
# (bench/download.py); zipstream-ng looks the name up in its module at call time.
zipstream.ng.crc32 = isal_zlib.crc32

CHUNK_SIZE = 1024 * 1024
PREFETCH_WINDOW = 64 * CHUNK_SIZE
# Chunks the archive builder may run ahead of the socket: bounds memory at a few MiB.
READ_AHEAD_CHUNKS = 8
CHECKSUMS_NAME = "SHA256SUMS"
# If a version itself holds a SHA256SUMS file, ours gets this name instead of clobbering it.
CHECKSUMS_FALLBACK_NAME = "SHA256SUMS.tunix-rt"
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
RANGE_HEADER = re.compile(r"^bytes=(\d*)-(\d*)$")


def prefetch(path: Path | None, offset: int = 0) -> None:
    """Ask the kernel to start reading a window of a blob into the page cache, without waiting."""
    if path is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a missing blob is reported by whoever reads it
    try:
        os.posix_fadvise(fd, offset, 2 * PREFETCH_WINDOW, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def read_blob(
    path: Path, *, start: int = 0, length: int | None = None, then: Path | None = None
) -> Iterator[bytes]:
    """Yield a blob's bytes from `start`, `length` of them (all when None), in chunks.

    `then` names the blob read next, whose head is fetched while this one's tail is sent.
    """
    with open(path, "rb", buffering=0) as blob:
        fd = blob.fileno()
        size = os.fstat(fd).st_size
        position = start
        blob.seek(start)
        left = length
        next_fetched = False
        while left is None or left > 0:
            # Keep the disk reading a window ahead of us (the kernel's own read-ahead is far
            # smaller), so reads overlap with CRC and sending; the window bounds cache churn.
            if (position - start) % PREFETCH_WINDOW == 0:
                os.posix_fadvise(fd, position, 2 * PREFETCH_WINDOW, os.POSIX_FADV_WILLNEED)
                if not next_fetched and size - position <= 2 * PREFETCH_WINDOW:
                    prefetch(then)
                    next_fetched = True
            chunk = blob.read(CHUNK_SIZE if left is None else min(CHUNK_SIZE, left))
            if not chunk:
                return
            position += len(chunk)
            if left is not None:
                left -= len(chunk)
            yield chunk


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


def ensure_blobs_present(store: BlobStore, manifest: list[ManifestEntry]) -> None:
    """Refuse to start a download whose bytes are not all there: a truncated stream helps nobody."""
    missing = [e.path for e in manifest if not store.has_blob(e.sha256)]
    if missing:
        raise RegistryError(
            f"Stored files are missing ({', '.join(missing)}); run verify_version and restore "
            "them before downloading.",
            code="blob_missing",
        )


def zip_response(
    store: BlobStore, manifest: list[ManifestEntry], *, filename: str, digest: str
) -> StreamingHttpResponse:
    """Stream the version as a ZIP with a SHA256SUMS file at its root."""
    ensure_blobs_present(store, manifest)
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    names = set()
    blobs = [store.blob_path(entry.sha256) for entry in manifest]
    for index, entry in enumerate(manifest):
        name = archive_name(entry.path)
        names.add(name)
        following = blobs[index + 1] if index + 1 < len(blobs) else None
        archive.add(read_blob(blobs[index], then=following), name, size=entry.size)
    checksums = CHECKSUMS_FALLBACK_NAME if CHECKSUMS_NAME in names else CHECKSUMS_NAME
    archive.add(manifest_text(manifest).encode("utf-8"), checksums)
    response = StreamingHttpResponse(read_ahead(iter(archive)), content_type="application/zip")
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


def file_response(request, path: Path, *, size: int, sha256: str, filename: str) -> HttpResponse:
    """Serve one stored file, honouring a single byte range (resumable downloads)."""
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
    if byte_range is None:
        # FileResponse lets the WSGI server use sendfile(): the whole file never enters Python.
        return FileResponse(
            open(path, "rb"),
            as_attachment=True,
            filename=filename,
            content_type="application/octet-stream",
            headers={"ETag": etag, "Accept-Ranges": "bytes"},
        )
    start, end = byte_range
    response = StreamingHttpResponse(
        read_blob(path, start=start, length=end - start + 1),
        status=206,
        content_type="application/octet-stream",
        headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"},
    )
    response["Content-Length"] = str(end - start + 1)
    return response
