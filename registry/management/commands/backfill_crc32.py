from django.core.checks import Tags
from django.core.management.base import BaseCommand

from registry.exceptions import StorageError
from registry.models import ModelFile
from registry.storage import ManifestEntry
from registry.stores import blob_store


class Command(BaseCommand):
    requires_system_checks = [Tags.models]
    help = (
        "Record the CRC-32 of stored files promoted before it was recorded, so their ZIP "
        "downloads can go by sendfile(); a blob that no longer matches its digest is skipped."
    )

    def handle(self, *args, **options):
        store = blob_store()
        missing = ModelFile.objects.filter(crc32__isnull=True)
        filled = skipped = 0
        for sha256, size in missing.values_list("sha256", "size_bytes").distinct():
            entry = ManifestEntry(sha256, size, sha256)
            try:
                actual, crc32 = store.checksums(entry)
            except StorageError as exc:  # a missing blob: verify_version reports it
                self.stderr.write(f"skipped {sha256[:12]}: {exc}")
                skipped += 1
                continue
            if actual != sha256:
                self.stderr.write(f"skipped {sha256[:12]}: it no longer matches its digest")
                skipped += 1
                continue
            filled += missing.filter(sha256=sha256).update(crc32=crc32)
        self.stdout.write(f"Recorded the CRC-32 of {filled} file(s); skipped {skipped} blob(s).")
