"""Single-file downloads handed to the reverse proxy, and the CRC-32s that ZIPs are built from."""

import zlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry.models import BlobCheck, ModelFile, ModelVersion
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run
from registry.tests.test_integrity import WEIGHTS, blob_of, consume, flip_a_byte

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("downloads_enabled")]


@pytest.fixture
def version():
    promoted, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    past_the_racy_window()
    return promoted


def past_the_racy_window():
    """Date the blobs' checks a second on, as any download a moment after promotion sees them."""
    BlobCheck.objects.update(checked_at=timezone.now() + timedelta(seconds=1))


@pytest.fixture
def accel(settings):
    settings.REGISTRY_ACCEL_REDIRECT_PREFIX = "/_registry_blobs/"


def file_url(version, path=WEIGHTS):
    return f"/api/models/versions/{version.pk}/files/{path}"


@pytest.mark.filesystem_store  # the proxy reads the directory's files
def test_a_verified_file_is_handed_to_nginx_with_an_empty_body(curator_client, version, accel):
    sha256 = version.files.get(path=WEIGHTS).sha256

    response = curator_client.get(file_url(version), HTTP_RANGE="bytes=0-9")

    assert response.status_code == 200  # nginx answers the range itself
    assert response["X-Accel-Redirect"] == f"/_registry_blobs/{sha256[:2]}/{sha256}"
    assert response.content == b""
    assert response["ETag"] == f'"{sha256}"'
    assert "attachment" in response["Content-Disposition"]


@pytest.mark.filesystem_store  # the proxy reads the directory's files
def test_a_verified_file_is_handed_over_by_x_sendfile(curator_client, version, settings):
    settings.REGISTRY_SENDFILE_HEADER = "X-Sendfile"

    response = curator_client.get(file_url(version))

    blob = blob_of(version)
    assert response["X-Sendfile"] == str(blob.store.blob_path(blob.digest).resolve())
    assert response.content == b""


@pytest.mark.filesystem_store  # the proxy reads the directory's files
def test_an_alias_and_a_hub_download_are_handed_over_too(curator_client, version, accel):
    repo_id = version.artifact.repo_id

    response = curator_client.get(f"/hf/{repo_id}/resolve/{version.version}/{WEIGHTS}")

    assert response["X-Accel-Redirect"].endswith(version.files.get(path=WEIGHTS).sha256)
    assert response.content == b""
    assert response["X-Repo-Commit"] == version.commit


@pytest.mark.filesystem_store  # the proxy reads the directory's files
def test_a_changed_blob_is_never_handed_to_the_proxy(curator_client, version, accel):
    flip_a_byte(blob_of(version))

    response = curator_client.get(file_url(version))
    received = consume(response)

    assert not response.has_header("X-Accel-Redirect")
    assert len(received) < int(response["Content-Length"])  # hashed here, cut short


@pytest.mark.filesystem_store  # the proxy reads the directory's files
def test_an_unverified_blob_streams_from_here_and_is_handed_over_next_time(
    curator_client, version, accel
):
    BlobCheck.objects.all().delete()

    first = curator_client.get(file_url(version))

    assert not first.has_header("X-Accel-Redirect")
    assert consume(first) == blob_of(version).read_bytes()
    past_the_racy_window()
    assert curator_client.get(file_url(version)).has_header("X-Accel-Redirect")


def test_without_a_proxy_configured_files_stream_as_before(curator_client, version):
    response = curator_client.get(file_url(version))

    assert not response.has_header("X-Accel-Redirect")
    assert consume(response) == blob_of(version).read_bytes()


def test_promotion_records_each_files_crc32(version):
    for row in version.files.all():
        assert row.crc32 == zlib.crc32(StoredBlob(row.sha256).read_bytes())


def test_backfill_records_missing_crcs_and_skips_a_changed_blob(version):
    ModelFile.objects.update(crc32=None)
    flip_a_byte(blob_of(version))
    out, err = StringIO(), StringIO()

    call_command("backfill_crc32", stdout=out, stderr=err)

    assert version.files.get(path=WEIGHTS).crc32 is None
    assert "no longer matches" in err.getvalue()
    others = version.files.exclude(path=WEIGHTS)
    assert others.exists()
    assert all(row.crc32 is not None for row in others)


def test_a_zip_of_a_version_without_crcs_still_downloads_whole(curator_client, version):
    import io
    import zipfile

    ModelFile.objects.update(crc32=None)

    response = curator_client.get(f"/api/models/versions/{version.pk}/download")
    body = consume(response)

    assert len(body) == int(response["Content-Length"])
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        assert z.read(WEIGHTS) == blob_of(version).read_bytes()
