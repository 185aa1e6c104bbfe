"""A stored blob as tests tamper with it, in whichever store the settings choose.

Bit rot, a stray write, a truncation or a deletion, done to the directory's file or the bucket's
object, so the same test checks the registry's promises on both stores.
"""

from registry.s3store import S3BlobStore
from registry.stores import blob_store


class StoredBlob:
    """The stored bytes of one digest."""

    def __init__(self, digest: str):
        self.store = blob_store()
        self.digest = digest

    def exists(self) -> bool:
        return self.store.has_blob(self.digest)

    def read_bytes(self) -> bytes:
        if isinstance(self.store, S3BlobStore):
            return self._object()["Body"].read()
        return self.store.blob_path(self.digest).read_bytes()

    def write_bytes(self, data: bytes) -> None:
        """Replace the stored bytes (a new object in a bucket, a rewrite of the file)."""
        if isinstance(self.store, S3BlobStore):
            self.store.client.put_object(Bucket=self.store.bucket, Key=self.key, Body=data)
            return
        path = self.store.blob_path(self.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def flip_last_byte(self) -> None:
        """Change one byte, as bit rot would: in place on disk (same size, same inode)."""
        data = bytearray(self.read_bytes())
        data[-1] ^= 0xFF
        if isinstance(self.store, S3BlobStore):
            self.write_bytes(bytes(data))
            return
        with open(self.store.blob_path(self.digest), "r+b") as handle:
            handle.write(bytes(data))

    def truncate(self, size: int) -> None:
        if isinstance(self.store, S3BlobStore):
            self.write_bytes(self.read_bytes()[:size])
            return
        with open(self.store.blob_path(self.digest), "r+b") as handle:
            handle.truncate(size)

    def unlink(self) -> None:
        if isinstance(self.store, S3BlobStore):
            self.store.client.delete_object(Bucket=self.store.bucket, Key=self.key)
            return
        self.store.blob_path(self.digest).unlink()

    @property
    def key(self) -> str:
        return self.store.blob_key(self.digest)

    def _object(self) -> dict:
        return self.store.client.get_object(Bucket=self.store.bucket, Key=self.key)


def stored_digests() -> set[str]:
    """Return the digest of every blob in the store."""
    store = blob_store()
    if isinstance(store, S3BlobStore):
        pages = store.client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=f"{store.prefix}blobs/"
        )
        return {
            item["Key"].rsplit("/", 1)[-1] for page in pages for item in page.get("Contents", [])
        }
    return (
        {p.name for p in store.blobs.glob("*/*") if p.is_file()} if store.blobs.is_dir() else set()
    )
