r"""Content-addressed storage for model versions, on the local filesystem.

Layout under the store's root (`MODEL_REGISTRY_PATH`)::

    blobs/sha256/<2 hex>/<64 hex>       one file per distinct content, named by its SHA-256
    manifests/sha256/<2 hex>/<64 hex>   a version's manifest in `sha256sum` format, named by the
                                        SHA-256 of that text: the version's digest
    tmp/<random>.partial                writes in flight; renamed into place only when complete
    .lock                               on SQLite only: the file `registry/locks.py` locks, shared
                                        by promotions while they record a version, exclusive for
                                        the garbage collector while it deletes (on PostgreSQL an
                                        advisory lock, which holds across hosts)

A version's manifest lists every file's relative POSIX path and SHA-256 as `sha256sum` prints them,
one `<hex>  <path>\n` line per file, sorted by the path's bytes. Its SHA-256 is the version's
digest, so anyone can check a directory against a digest with standard tools::

    cd DIR && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum

Writes are crash-safe: bytes are copied into a temporary file inside the store (a reflink where
the filesystem offers one, else `copy_file_range` inside the kernel), the copy is hashed from its
pages in memory, fsynced, then renamed atomically to the final name and the directory fsynced. A
half-written blob never has a final name, and what was hashed is what was stored: the copy itself.

This module knows nothing of Django models; `registry.s3store` implements the same interface on
the S3 API, and `registry.stores` picks one from the settings.
"""

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import mmap
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

from registry.exceptions import BlobCorruptedError, StorageError

CHUNK_SIZE = 4 * 1024 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Hashing releases the GIL, so threads use every core; twice as many threads as cores lets one
# thread hash while another waits on its fsync.
MAX_WORKERS = min(8, 2 * (os.cpu_count() or 1))
# Characters that `sha256sum` would escape in its output, which would break the digest's definition.
UNSAFE_NAME_CHARACTERS = ("\n", "\r", "\\")


class Progress:
    """Receives the progress of a long store operation; this base class ignores it.

    Methods may be called from several threads at once.
    """

    def begin(self, phase: str, *, total_bytes: int, total_files: int) -> None:
        """Start a phase ("hashing", "storing", "uploading" or "verifying") over that many bytes."""

    def advance(self, nbytes: int, finished_path: str | None = None) -> None:
        """Count `nbytes` more processed, and a file finished when `finished_path` is given."""


NO_PROGRESS = Progress()


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a version: relative POSIX path, size in bytes, SHA-256 in hex, CRC-32.

    The CRC-32 (what a ZIP entry records) is known for blobs stored since it was recorded at
    promotion; None for older ones and where nothing computed it. It is not part of a manifest.
    """

    path: str
    size: int
    sha256: str
    crc32: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredDirectory:
    """The result of storing a directory: where its manifest is, its digest, size and files."""

    uri: str
    digest: str
    size: int
    manifest: list[ManifestEntry]
    # Each blob's identity once written: its bytes are the ones just hashed.
    identities: dict[str, "BlobIdentity"]


@dataclass(frozen=True)
class BlobIdentity:
    """What `stat` says of a blob's file: any write, truncation or replacement changes it.

    A write changes mtime and ctime (which no user can set back), a replacement the inode, a
    truncation the size: while all five are what they were when the bytes were hashed, the bytes
    are the hashed ones, and a download need not hash them again.
    """

    size: int
    device: int
    inode: int
    mtime_ns: int
    ctime_ns: int
    # An object store's identity of the object (S3's ETag); empty on the filesystem.
    etag: str = ""

    @classmethod
    def of(cls, result: os.stat_result) -> "BlobIdentity":
        """Return the identity in a `stat` result."""
        return cls(
            result.st_size, result.st_dev, result.st_ino, result.st_mtime_ns, result.st_ctime_ns
        )


@dataclass(frozen=True)
class FileCheck:
    """The outcome of re-hashing one stored file: ok, missing or mismatch.

    `identity` is the blob's identity while it was hashed (None when missing, or when the file
    changed while it was being read, so the result belongs to no identity).
    """

    path: str
    expected: str
    actual: str | None
    status: str
    identity: BlobIdentity | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def sort_key(path: str) -> bytes:
    """Return the key that orders paths as `LC_ALL=C sort` does: by their UTF-8 bytes."""
    return path.encode("utf-8")


def manifest_text(entries: list[ManifestEntry]) -> str:
    """Return the manifest in `sha256sum` format, sorted by the paths' bytes."""
    return "".join(
        f"{entry.sha256}  {entry.path}\n"
        for entry in sorted(entries, key=lambda e: sort_key(e.path))
    )


def manifest_digest(entries: list[ManifestEntry]) -> str:
    """Return a version's digest: the SHA-256 of its manifest text."""
    return hashlib.sha256(manifest_text(entries).encode("utf-8")).hexdigest()


@dataclass
class GarbageReport:
    """What a collection removed (or, in a dry run, would remove), and what it kept as young."""

    blobs: list[Path]
    manifests: list[Path]
    temporary: list[Path]
    bytes_freed: int
    kept_young: int


@dataclass(frozen=True)
class SourceFile:
    """A regular file found in a directory to store."""

    path: str
    absolute: Path
    size: int


def scan_directory(root: Path) -> list[SourceFile]:
    """List the regular files under `root`, refusing symlinks and names the digest cannot carry."""
    if not root.is_dir():
        raise StorageError(f"{root} is not a directory.", code="source_missing")
    found: list[SourceFile] = []
    for directory, subdirectories, filenames in os.walk(root, followlinks=False):
        for name in sorted(subdirectories + filenames):
            absolute = Path(directory) / name
            relative = absolute.relative_to(root).as_posix()
            mode = absolute.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise StorageError(
                    f"{relative} is a symbolic link (to {os.readlink(absolute)}); promotion stores "
                    "regular files only. Replace the link with the file it points to.",
                    code="symlink_refused",
                )
            if name in subdirectories:
                continue
            if not stat.S_ISREG(mode):
                raise StorageError(
                    f"{relative} is not a regular file; promotion stores regular files only.",
                    code="special_file_refused",
                )
            if any(char in relative for char in UNSAFE_NAME_CHARACTERS):
                raise StorageError(
                    f"The file name {relative!r} holds a newline or backslash, which the "
                    "sha256sum manifest cannot carry; rename it.",
                    code="unsafe_file_name",
                )
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                # os.walk decodes undecodable bytes as surrogates, which no JSON or HTML can
                # carry: name the file with those bytes escaped instead.
                shown = os.fsencode(relative).decode("utf-8", errors="backslashreplace")
                raise StorageError(
                    f'The file name "{shown}" is not valid UTF-8, which the manifest cannot '
                    "carry; rename it.",
                    code="unsafe_file_name",
                ) from None
            found.append(SourceFile(relative, absolute, absolute.lstat().st_size))
    return sorted(found, key=lambda f: sort_key(f.path))


def start_writeback():
    """Return a function that asks the kernel to start writing a file range to disk now.

    Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) starts writeback without waiting, so the disk
    writes one chunk while we hash and copy the next, and the final fsync has little left to do.
    Elsewhere it is a no-op and the fsync does all the work.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        sync_file_range = libc.sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, length: None
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]

    def writeback(fd: int, offset: int, length: int) -> None:
        sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)

    return writeback


SYNC_FILE_RANGE_WRITE = 2
WRITEBACK_EVERY = 16 * 1024 * 1024
writeback = start_writeback()


def fsync_directory(directory: Path) -> None:
    """Make a rename inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
COPY_CHUNK = 16 * 1024 * 1024
# Errors that mean "this kernel or filesystem cannot do that here": fall back, do not fail.
UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM}


def clone(reader: BinaryIO, writer: BinaryIO) -> bool:
    """Make `writer` share `reader`'s extents (a reflink, FICLONE); return False where unsupported.

    On btrfs, XFS and other copy-on-write filesystems the copy then costs no I/O at all; the
    clone is still hashed below, so what is stored is what was hashed.
    """
    try:
        fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
    except OSError as exc:
        if exc.errno in UNSUPPORTED:
            return False
        raise
    return True


def copy_chunk(reader: BinaryIO, writer: BinaryIO, length: int) -> int:
    """Copy up to `length` bytes at the files' offsets inside the kernel; return how many."""
    try:
        return os.copy_file_range(reader.fileno(), writer.fileno(), length)
    except OSError as exc:
        if exc.errno not in UNSUPPORTED:
            raise
    data = reader.read(length)  # a filesystem without copy_file_range: through user space
    written = 0
    while written < len(data):
        written += writer.write(data[written:])
    return len(data)


class ContentHasher:
    """SHA-256 and CRC-32 of the same bytes, fed once: the digest names the blob, the CRC is
    what a ZIP entry of it records, so a download can write the entry without reading the bytes.

    ISA-L's CRC-32 (bit-identical to zlib's) runs at tens of GiB/s: beside SHA-256 it is free.
    """

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.crc32 = 0

    def update(self, data) -> None:
        """Add `data` (any buffer) to both."""
        self.sha.update(data)
        self.crc32 = isal_zlib.crc32(data, self.crc32)

    def hexdigest(self) -> str:
        """Return the SHA-256 in hex."""
        return self.sha.hexdigest()


def hash_range(writer: BinaryIO, sha, offset: int, length: int) -> None:
    """Hash `length` bytes of the file at `offset` from its pages in memory, without copying."""
    if length == 0:
        return
    skip = offset % mmap.ALLOCATIONGRANULARITY  # a short copy can leave `offset` unaligned
    with (
        mmap.mmap(
            writer.fileno(),
            skip + length,
            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
            prot=mmap.PROT_READ,
            offset=offset - skip,
        ) as mapped,
        memoryview(mapped) as view,
    ):
        sha.update(view[skip:])


def copy_and_hash(reader: BinaryIO, writer: BinaryIO, sha, progress: "Progress") -> int:
    """Copy `reader` into `writer` (a reflink where possible), hashing what was written.

    The kernel copies (copy_file_range: no trip through user space) and the hash reads the
    written pages in place: one memory copy per byte instead of two, so both cores hash. Hashing
    the copy rather than the source means a source changing meanwhile cannot make the stored
    bytes differ from the hashed ones. Every 16 MiB the kernel is asked to start writing that
    range to disk, so the final fsync has little left to do.
    """
    if clone(reader, writer):
        size = os.fstat(writer.fileno()).st_size
        for offset in range(0, size, CHUNK_SIZE):
            hash_range(writer, sha, offset, min(CHUNK_SIZE, size - offset))
            progress.advance(min(CHUNK_SIZE, size - offset))
        return size
    size = 0
    while n := copy_chunk(reader, writer, COPY_CHUNK):
        writeback(writer.fileno(), size, n)
        for offset in range(size, size + n, CHUNK_SIZE):
            # Mapped a few MiB at a time: mapped pages count in the process's memory.
            hash_range(writer, sha, offset, min(CHUNK_SIZE, size + n - offset))
        size += n
        progress.advance(n)
    return size


class BlobStore:
    """A content-addressed store of blobs and manifests rooted at one directory."""

    # A blob is a file: verified ones can go from the page cache to a socket (`send_trusted`).
    sends_by_kernel = True

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.manifests = self.root / "manifests" / "sha256"
        self.tmp = self.root / "tmp"

    # ---- addressing -----------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Return where the blob with SHA-256 `digest` lives."""
        return self.blobs / digest[:2] / digest

    def manifest_path(self, digest: str) -> Path:
        """Return where the manifest of the version with `digest` lives."""
        return self.manifests / digest[:2] / digest

    def manifest_uri(self, digest: str) -> str:
        """Return the storage URI recorded for a version."""
        return self.manifest_path(digest).resolve().as_uri()

    def has_blob(self, digest: str) -> bool:
        """Return whether a blob with `digest` is stored."""
        return self.blob_path(digest).is_file()

    def presigned_url(self, entry: "ManifestEntry", trusted: "BlobIdentity | None") -> None:
        """None: a directory has no URLs of its own (a reverse proxy may serve it instead)."""
        return None

    # ---- writing --------------------------------------------------------------------------------

    def put_directory(self, source: Path, *, progress: Progress = NO_PROGRESS) -> StoredDirectory:
        """Store every regular file under `source`, then its manifest; return what was stored."""
        files = scan_directory(source)
        self.tmp.mkdir(parents=True, exist_ok=True)
        progress.begin("storing", total_bytes=sum(f.size for f in files), total_files=len(files))
        stored = self._map_files(files, self._store_file, progress)
        entries = [entry for entry, _ in stored]
        digest = manifest_digest(entries)
        self._write_atomically(
            self.manifest_path(digest), manifest_text(entries).encode("utf-8"), digest
        )
        return StoredDirectory(
            uri=self.manifest_uri(digest),
            digest=digest,
            size=sum(entry.size for entry in entries),
            manifest=sorted(entries, key=lambda e: sort_key(e.path)),
            identities={entry.sha256: identity for entry, identity in stored},
        )

    def hash_directory(
        self, source: Path, *, progress: Progress = NO_PROGRESS
    ) -> tuple[str, list[ManifestEntry]]:
        """Hash `source` as `put_directory` would, writing nothing; return (digest, manifest)."""
        files = scan_directory(source)
        progress.begin("hashing", total_bytes=sum(f.size for f in files), total_files=len(files))
        entries = self._map_files(files, self._hash_file, progress)
        return manifest_digest(entries), sorted(entries, key=lambda e: sort_key(e.path))

    def _map_files(self, files, worker, progress) -> list[ManifestEntry]:
        # Largest first, so the big shards start at once and small files fill the gaps.
        ordered = sorted(files, key=lambda f: f.size, reverse=True)
        if len(ordered) <= 1 or MAX_WORKERS == 1:
            return [worker(f, progress) for f in ordered]
        with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="blobstore") as pool:
            return list(pool.map(lambda f: worker(f, progress), ordered))

    def _hash_file(self, source: SourceFile, progress: Progress) -> ManifestEntry:
        sha = hashlib.sha256()
        size = 0
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        try:
            with open(source.absolute, "rb") as reader:
                while n := reader.readinto(buffer):
                    sha.update(view[:n])
                    size += n
                    progress.advance(n)
        except OSError as exc:
            raise StorageError(f"Could not read {source.path}: {exc.strerror or exc}.") from exc
        progress.advance(0, source.path)
        return ManifestEntry(source.path, size, sha.hexdigest())

    def _store_file(
        self, source: SourceFile, progress: Progress
    ) -> tuple[ManifestEntry, BlobIdentity]:
        temporary = self.tmp / f"{uuid.uuid4().hex}.partial"
        sha = ContentHasher()
        try:
            try:
                reader = open(source.absolute, "rb")  # noqa: SIM115 (closed below, with the writer)
            except OSError as exc:
                raise StorageError(f"Could not read {source.path}: {exc.strerror or exc}.") from exc
            with reader, open(temporary, "x+b", buffering=0) as writer:
                size = copy_and_hash(reader, writer, sha, progress)
                os.fsync(writer.fileno())
            digest = sha.hexdigest()
            final = self.blob_path(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            # Even when a blob with this digest is stored, replace it with the bytes just hashed:
            # the old file may have rotted, and the new one is young for the collector. Readers
            # that hold the old file open keep reading it.
            os.replace(temporary, final)
            fsync_directory(final.parent)
            identity = BlobIdentity.of(os.stat(final))
        except OSError as exc:
            raise StorageError(self._write_failure(source.path, exc)) from exc
        finally:
            temporary.unlink(missing_ok=True)
        progress.advance(0, source.path)
        return ManifestEntry(source.path, size, digest, sha.crc32), identity

    def _write_atomically(self, final: Path, data: bytes, digest: str) -> None:
        if final.exists():
            os.utime(final)
            return
        temporary = self.tmp / f"{uuid.uuid4().hex}.partial"
        try:
            with open(temporary, "xb") as writer:
                writer.write(data)
                writer.flush()
                os.fsync(writer.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, final)
            fsync_directory(final.parent)
        except OSError as exc:
            raise StorageError(self._write_failure(f"manifest {digest[:12]}", exc)) from exc
        finally:
            temporary.unlink(missing_ok=True)

    @staticmethod
    def _write_failure(what: str, exc: OSError) -> str:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        return f"Could not store {what}: {reason}. Nothing was promoted; retry once that is fixed."

    # ---- collecting ---------------------------------------------------------------------------

    def collect_garbage(
        self,
        *,
        referenced_blobs: set[str],
        referenced_manifests: set[str],
        grace_seconds: int,
        dry_run: bool = False,
    ) -> GarbageReport:
        """Remove unreferenced blobs and manifests and stale temporary files older than the grace.

        Call it holding the exclusive lock, with the references read under that lock.
        Anything younger than `grace_seconds` may belong to a promotion in flight and is kept.
        """
        cutoff = time.time() - grace_seconds
        report = GarbageReport([], [], [], 0, 0)
        for directory, referenced, found in (
            (self.blobs, referenced_blobs, report.blobs),
            (self.manifests, referenced_manifests, report.manifests),
        ):
            for path in directory.glob("*/*"):
                if not HEX64.match(path.name) or path.name in referenced:
                    continue
                stat_result = path.stat()
                if stat_result.st_mtime > cutoff:
                    report.kept_young += 1
                    continue
                found.append(path)
                report.bytes_freed += stat_result.st_size
        for path in self.tmp.glob("*.partial") if self.tmp.is_dir() else ():
            stat_result = path.stat()
            if stat_result.st_mtime <= cutoff:
                report.temporary.append(path)
                report.bytes_freed += stat_result.st_size
        if not dry_run:
            for path in [*report.blobs, *report.manifests, *report.temporary]:
                path.unlink(missing_ok=True)
        return report

    # ---- reading --------------------------------------------------------------------------------

    def open_blob(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading; raise StorageError when it is missing."""
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise StorageError(
                f"Blob {digest} is missing from the store.", code="blob_missing"
            ) from None

    def identity(self, digest: str) -> BlobIdentity | None:
        """Return the stored blob's identity now, or None when it is missing."""
        try:
            return BlobIdentity.of(os.stat(self.blob_path(digest)))
        except FileNotFoundError:
            return None

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

        When the open file's identity is `trusted` (its bytes were hashed before and nothing has
        touched it since), the bytes are sent as they are read, and the identity is checked again
        before the last chunk: a change meanwhile raises instead. Otherwise the bytes are hashed
        as they are sent and the last chunk is held back until the digest matches; a range of an
        unverified blob is hashed in full before its first byte. So a consumer that stops at the
        exception never delivers a complete wrong file. `on_verified(entry, identity)` is called
        after each full hash that matched. `then` is the blob read next (its head is prefetched).

        Raises BlobCorruptedError on a mismatch or change, StorageError when the blob is missing.
        """
        try:
            blob = open(self.blob_path(entry.sha256), "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise StorageError(
                f"The stored bytes of {entry.path} are missing.", code="blob_missing"
            ) from None
        with blob:
            identity = BlobIdentity.of(os.fstat(blob.fileno()))
            if identity.size != entry.size:
                raise corrupted(entry, None, f"is {identity.size} bytes, not {entry.size}")
            whole = start == 0 and (length is None or length >= entry.size)
            if identity != trusted and not whole:
                # Nothing of a part can be checked alone: hash it all first (it is then cached).
                actual = hash_open_file(blob)
                if actual != entry.sha256:
                    raise corrupted(entry, actual, "no longer matches its digest")
                if on_verified is not None:
                    on_verified(entry, identity)
                trusted = identity
            sha = hashlib.sha256() if identity != trusted else None
            then_path = self.blob_path(then.sha256) if then is not None else None
            held = None
            for chunk in read_window(blob, start=start, length=length, then=then_path):
                if sha is not None:
                    sha.update(chunk)
                if held is not None:
                    yield held
                held = chunk
            if sha is not None:
                if sha.hexdigest() != entry.sha256:
                    raise corrupted(entry, sha.hexdigest(), "no longer matches its digest")
                if on_verified is not None:
                    on_verified(entry, identity)
            elif BlobIdentity.of(os.fstat(blob.fileno())) != identity:
                raise corrupted(
                    entry, None, "changed on disk while it was being sent", certain=False
                )
            if held is not None:
                yield held

    def send_trusted(
        self,
        entry: ManifestEntry,
        *,
        trusted: BlobIdentity | None,
        socket_fd: int,
        then: ManifestEntry | None = None,
    ) -> bool:
        """Send a blob whose identity is `trusted` to a socket by `sendfile()`; False if it is not.

        The bytes go from the page cache to the socket without Python seeing them, so this is
        only for a blob verified before and untouched since, as `read_checked` trusts it: the
        open file's identity must be `trusted`, and is checked again before the last chunk; a
        change meanwhile raises BlobCorruptedError, so the transfer is cut short. When the
        identity is not `trusted` nothing is sent and False is returned: read the blob with
        `read_checked`, which hashes it. The socket must be blocking.
        """
        if trusted is None:
            return False
        try:
            fd = os.open(self.blob_path(entry.sha256), os.O_RDONLY)
        except FileNotFoundError:
            raise StorageError(
                f"The stored bytes of {entry.path} are missing.", code="blob_missing"
            ) from None
        try:
            identity = BlobIdentity.of(os.fstat(fd))
            if identity != trusted or identity.size != entry.size:
                return False
            tail = min(entry.size, READ_CHUNK_SIZE)
            then_path = self.blob_path(then.sha256) if then is not None else None
            body = send_window(fd, socket_fd, start=0, length=entry.size - tail, then=then_path)
            if body != entry.size - tail or BlobIdentity.of(os.fstat(fd)) != identity:
                raise corrupted(
                    entry, None, "changed on disk while it was being sent", certain=False
                )
            if send_window(fd, socket_fd, start=entry.size - tail, length=tail) != tail:
                raise corrupted(
                    entry, None, "changed on disk while it was being sent", certain=False
                )
            return True
        finally:
            os.close(fd)

    def checksums(self, entry: ManifestEntry) -> tuple[str, int]:
        """Return the SHA-256 (hex) and CRC-32 of a stored blob's bytes, read once."""
        hasher = ContentHasher()
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        with self.open_blob(entry.sha256) as blob:
            while n := blob.readinto(buffer):
                hasher.update(view[:n])
        return hasher.hexdigest(), hasher.crc32

    def iter_files(self, manifest: list[ManifestEntry]) -> Iterator[tuple[ManifestEntry, Path]]:
        """Yield each file of a version with the path of its blob, in manifest order."""
        for entry in manifest:
            yield entry, self.blob_path(entry.sha256)

    def verify(
        self, manifest: list[ManifestEntry], *, progress: Progress = NO_PROGRESS
    ) -> list[FileCheck]:
        """Re-hash each file's blob against the manifest; return one check per file."""
        progress.begin(
            "verifying", total_bytes=sum(e.size for e in manifest), total_files=len(manifest)
        )

        def check(entry: ManifestEntry) -> FileCheck:
            blob = self.blob_path(entry.sha256)
            try:
                before = BlobIdentity.of(os.stat(blob))
            except FileNotFoundError:
                return FileCheck(entry.path, entry.sha256, None, "missing")
            actual = self._hash_file(SourceFile(entry.path, blob, entry.size), progress).sha256
            status = "ok" if actual == entry.sha256 else "mismatch"
            try:
                after = BlobIdentity.of(os.stat(blob))
            except FileNotFoundError:
                after = None
            return FileCheck(
                entry.path, entry.sha256, actual, status, before if before == after else None
            )

        with ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="verify") as pool:
            return list(pool.map(check, manifest))


PREFETCH_WINDOW = 64 * 1024 * 1024
READ_CHUNK_SIZE = 1024 * 1024


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


def read_window(
    blob: BinaryIO, *, start: int = 0, length: int | None = None, then: Path | None = None
) -> Iterator[bytes]:
    """Yield an open blob's bytes from `start`, `length` of them (all when None), in chunks.

    `then` names the blob read next, whose head is fetched while this one's tail is read.
    """
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
        chunk = blob.read(READ_CHUNK_SIZE if left is None else min(READ_CHUNK_SIZE, left))
        if not chunk:
            return
        position += len(chunk)
        if left is not None:
            left -= len(chunk)
        yield chunk


def send_window(
    fd: int, socket_fd: int, *, start: int, length: int, then: Path | None = None
) -> int:
    """Send `length` bytes of an open file from `start` to a socket by `sendfile()`; return
    how many went (fewer only when the file ended early).

    As `read_window` does, keeps the disk reading a window ahead and fetches the head of the
    blob sent next (`then`) while this one's tail goes out.
    """
    position, end = start, start + length
    next_fetched = False
    while position < end:
        if (position - start) % PREFETCH_WINDOW == 0:
            os.posix_fadvise(fd, position, 2 * PREFETCH_WINDOW, os.POSIX_FADV_WILLNEED)
            if not next_fetched and end - position <= 2 * PREFETCH_WINDOW:
                prefetch(then)
                next_fetched = True
        step = min(end - position, PREFETCH_WINDOW - (position - start) % PREFETCH_WINDOW)
        sent = os.sendfile(socket_fd, fd, position, step)
        if sent == 0:
            break
        position += sent
    return position - start


def hash_open_file(blob: BinaryIO) -> str:
    """Return the SHA-256 of an open file's whole content, reading it from the start."""
    blob.seek(0)
    return hashlib.file_digest(blob, "sha256").hexdigest()


def corrupted(
    entry: ManifestEntry, actual: str | None, what: str, *, certain: bool = True
) -> BlobCorruptedError:
    """Return the refusal to serve `entry`, whose stored bytes `what`."""
    return BlobCorruptedError(
        f"The stored file {entry.path} {what} (sha256 {entry.sha256[:12]}…): it is not served. "
        "Run `manage.py verify_version` and restore the file from a backup.",
        path=entry.path,
        expected=entry.sha256,
        actual=actual,
        certain=certain,
    )
