"""Downloads fail closed: no route completes a response whose bytes differ from the digest."""

import http.client
import os
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from registry.choices import EventKind
from registry.exceptions import BlobCorruptedError
from registry.models import BlobCheck, ModelAlias, ModelVersion, RegistryEvent
from registry.storage import BlobStore
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("downloads_enabled")]

WEIGHTS = "adapter_model.safetensors"


@pytest.fixture
def version():
    promoted, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    return promoted


def blob_of(version: ModelVersion, path: str = WEIGHTS) -> StoredBlob:
    return StoredBlob(version.files.get(path=path).sha256)


def flip_a_byte(blob: StoredBlob) -> None:
    """Change one byte: in place on disk (same size, same inode), as bit rot would."""
    blob.flip_last_byte()


def consume(response) -> bytes:
    """Read a streamed body as a client would, until the server stops sending."""
    received = bytearray()
    try:
        for chunk in response.streaming_content:
            received += chunk
    except BlobCorruptedError:
        pass
    return bytes(received)


def download_failures(version):
    return RegistryEvent.objects.filter(
        version=version, kind=EventKind.VERIFICATION, details__ok=False
    )


def test_a_zip_of_a_changed_blob_is_cut_short_and_the_failure_recorded(curator_client, version):
    flip_a_byte(blob_of(version))

    response = curator_client.get(f"/api/models/versions/{version.pk}/download")
    received = consume(response)

    assert response.status_code == 200  # the headers had gone before the mismatch was known
    assert len(received) < int(response["Content-Length"])
    event = download_failures(version).get()
    assert event.details["during"] == "download"
    assert event.details["problems"][0]["path"] == WEIGHTS


def test_a_single_file_of_a_changed_blob_is_cut_short(curator_client, version):
    flip_a_byte(blob_of(version))

    response = curator_client.get(f"/api/models/versions/{version.pk}/files/{WEIGHTS}")
    received = consume(response)

    assert len(received) < int(response["Content-Length"])
    assert download_failures(version).count() == 1


def test_after_a_mismatch_the_file_is_refused_before_sending_naming_it(curator_client, version):
    flip_a_byte(blob_of(version))
    consume(curator_client.get(f"/api/models/versions/{version.pk}/download"))

    response = curator_client.get(f"/api/models/versions/{version.pk}/download")

    assert response.status_code == 409
    assert response.json()["code"] == "integrity_failed"
    assert WEIGHTS in response.json()["detail"]
    assert "verify_version" in response.json()["detail"]


def test_a_truncated_blob_is_refused_before_sending_and_recorded(curator_client, version):
    blob = blob_of(version)
    blob.truncate(len(blob.read_bytes()) - 1)

    response = curator_client.get(f"/api/models/versions/{version.pk}/files/{WEIGHTS}")

    assert response.status_code == 409
    assert response.json()["code"] == "integrity_failed"
    assert download_failures(version).count() == 1


def test_a_range_of_a_changed_blob_is_refused_before_its_first_byte(curator_client, version):
    flip_a_byte(blob_of(version))

    response = curator_client.get(
        f"/api/models/versions/{version.pk}/files/{WEIGHTS}", HTTP_RANGE="bytes=0-9"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "integrity_failed"


def test_an_alias_download_of_a_changed_blob_is_cut_short(curator_client, version):
    ModelAlias.objects.point(version.artifact, "production", version)
    flip_a_byte(blob_of(version))

    response = curator_client.get(f"/api/models/{version.artifact_id}/aliases/production/download")

    assert len(consume(response)) < int(response["Content-Length"])


def test_the_version_shows_its_failed_verification_in_the_api_and_page(
    curator_client, version, client
):
    flip_a_byte(blob_of(version))
    consume(curator_client.get(f"/api/models/versions/{version.pk}/download"))

    api = curator_client.get(f"/api/models/versions/{version.pk}/").json()
    client.force_login(UserFactory())
    page = client.get(f"/registry/versions/{version.pk}/").content.decode()

    assert api["failed_verification"] == [WEIGHTS]
    assert "Failed verification" in page


def test_restoring_the_file_and_verifying_clears_the_failure(curator_client, version):
    blob = blob_of(version)
    original = blob.read_bytes()
    flip_a_byte(blob)
    consume(curator_client.get(f"/api/models/versions/{version.pk}/download"))

    blob.write_bytes(original)
    version.verify()
    response = curator_client.get(f"/api/models/versions/{version.pk}/files/{WEIGHTS}")

    assert version.failed_files() == []
    assert consume(response) == original


def test_an_intact_download_is_complete_and_remembers_what_it_hashed(curator_client, version):
    BlobCheck.objects.all().delete()  # as if nothing had been hashed since promotion

    response = curator_client.get(f"/api/models/versions/{version.pk}/files/{WEIGHTS}")

    assert consume(response) == blob_of(version).read_bytes()
    assert BlobCheck.objects.get(sha256=version.files.get(path=WEIGHTS).sha256).ok


def test_a_trusted_blob_changed_while_it_is_sent_aborts_the_transfer(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    store = BlobStore(tmp_path / "store")
    stored = store.put_directory(source)
    entry = stored.manifest[0]
    chunks = store.read_checked(entry, trusted=stored.identities[entry.sha256])

    next(chunks)
    with open(store.blob_path(entry.sha256), "r+b") as handle:
        handle.write(b"x")  # a stray write while the download runs
    with pytest.raises(BlobCorruptedError) as raised:
        list(chunks)

    assert not raised.value.certain


def test_a_complete_download_makes_the_next_one_trust_the_blobs(curator_client, version, settings):
    BlobCheck.objects.all().delete()
    consume(curator_client.get(f"/api/models/versions/{version.pk}/download"))
    BlobCheck.objects.update(
        checked_at=timezone.now() + timedelta(seconds=1)
    )  # past the racy window

    guard = version.integrity_guard()

    assert set(guard.trusted) == {f.sha256 for f in version.files.all()}


@pytest.fixture
def served():
    """A live HTTP server for this test only, stopped before the database goes."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost:0")
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_over_http_a_changed_blob_ends_the_transfer_short_of_its_content_length(served):
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    token = Token.objects.create(user=UserFactory()).key
    flip_a_byte(blob_of(version))
    host, port = served.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request(
        "GET",
        f"/api/models/versions/{version.pk}/download",
        headers={"Authorization": f"Token {token}"},
    )
    response = connection.getresponse()

    # gunicorn closes the connection (IncompleteRead); Django's development server keeps it open
    # after the error, so the client waits for the missing bytes: either way, never a whole body.
    with pytest.raises((http.client.IncompleteRead, TimeoutError)):
        response.read()
    connection.close()


def test_a_hub_download_of_a_changed_blob_is_cut_short(curator_client, version):
    flip_a_byte(blob_of(version))
    repo_id = version.artifact.repo_id

    response = curator_client.get(f"/hf/{repo_id}/resolve/{version.version}/{WEIGHTS}")
    received = consume(response)

    assert len(received) < int(response["Content-Length"])
    assert download_failures(version).count() == 1


def test_after_a_mismatch_the_hub_refuses_the_file_with_its_error_headers(curator_client, version):
    flip_a_byte(blob_of(version))
    repo_id = version.artifact.repo_id
    consume(curator_client.get(f"/hf/{repo_id}/resolve/{version.version}/{WEIGHTS}"))

    response = curator_client.head(f"/hf/{repo_id}/resolve/{version.version}/{WEIGHTS}")

    assert response.status_code == 409
    assert WEIGHTS in response["X-Error-Message"]
