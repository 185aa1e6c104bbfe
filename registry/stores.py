"""The registry's blob store, as the settings configure it: a directory or an S3 bucket."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from registry.storage import BlobStore


def blob_store():
    """Return the configured store: S3 for an `s3://` REGISTRY_STORAGE_URL, else the directory."""
    url = settings.REGISTRY_STORAGE_URL
    if not url:
        return BlobStore(settings.MODEL_REGISTRY_PATH)
    if not url.startswith("s3://"):
        raise ImproperlyConfigured(
            f"REGISTRY_STORAGE_URL={url!r}: only s3://bucket/prefix is understood "
            "(leave it empty to keep blobs under MODEL_REGISTRY_PATH)."
        )
    from registry.s3store import S3BlobStore  # boto3 loads only when an object store is used

    return S3BlobStore(
        url,
        endpoint_url=settings.REGISTRY_S3_ENDPOINT_URL or None,
        region=settings.REGISTRY_S3_REGION or None,
        presign_seconds=settings.REGISTRY_S3_PRESIGN_SECONDS,
    )
