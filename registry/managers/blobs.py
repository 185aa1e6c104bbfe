"""Blob checks: which blobs were hashed, with what outcome, and their files' identity then."""

from django.db import models
from django.utils import timezone

from registry.storage import BlobIdentity

# How soon after a blob file changed a hash check is too close to trust the file's identity alone.
RACY_SECONDS = 0.05


class BlobCheckManager(models.Manager):
    """Remember which blobs were hashed, with what outcome, and their files' identity then."""

    def record(self, outcomes: dict[str, tuple[BlobIdentity, bool]]) -> None:
        """Store, for each digest, the identity its blob had when hashed and whether it matched."""
        if not outcomes:
            return
        now = timezone.now()
        self.bulk_create(
            [
                self.model(
                    sha256=digest,
                    ok=ok,
                    size_bytes=identity.size,
                    device=identity.device,
                    inode=identity.inode,
                    mtime_ns=identity.mtime_ns,
                    ctime_ns=identity.ctime_ns,
                    etag=identity.etag,
                    checked_at=now,
                )
                for digest, (identity, ok) in sorted(outcomes.items())
            ],
            update_conflicts=True,
            unique_fields=["sha256"],
            update_fields=[
                "ok",
                "size_bytes",
                "device",
                "inode",
                "mtime_ns",
                "ctime_ns",
                "etag",
                "checked_at",
            ],
        )

    def trusted(self, digests) -> dict[str, BlobIdentity]:
        """Return the identity of each of `digests` whose blob passed its last check, if trusted.

        Not when the file changed within RACY_SECONDS before the check: file timestamps may be
        as coarse as a kernel tick, so a write in that window could leave the identity unchanged
        (git's "racily clean" entries). Those are hashed again by the next download.
        """
        return {
            check.sha256: check.identity
            for check in self.filter(sha256__in=digests, ok=True)
            if check.ctime_ns <= (check.checked_at.timestamp() - RACY_SECONDS) * 1e9
        }

    def failed(self, digests) -> dict[str, BlobIdentity]:
        """Return the identity of each of `digests` whose blob failed its last check."""
        return {check.sha256: check.identity for check in self.filter(sha256__in=digests, ok=False)}

    def forget(self, digests) -> None:
        """Forget the checks of blobs that were deleted: they say nothing of one stored again."""
        self.filter(sha256__in=digests).delete()
