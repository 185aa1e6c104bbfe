"""Downloads from a registry kept in S3 (moto's server on loopback): verified single files go by a
presigned redirect, straight from the store; anything unverified streams through the app."""

import hashlib
import urllib.request

import pytest

from registry.models import BlobCheck, ModelVersion
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run
from registry.tests.test_hub_client import REPO, client_env, run_client, token  # noqa: F401

WEIGHTS = "adapter_model.safetensors"


@pytest.fixture(autouse=True)
def presigned(s3_store, settings, downloads_enabled):
    settings.REGISTRY_S3_PRESIGN_SECONDS = 300


@pytest.fixture
def version(db):
    promoted, _ = ModelVersion.objects.promote(ModelArtifactFactory(repo_id=REPO), promotable_run())
    return promoted


def fetch(url: str, headers=None) -> tuple[int, bytes]:
    """GET a presigned URL as a client would: no credentials but the URL's own."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as answer:  # noqa: S310
        return answer.status, answer.read()


def file_url(version, path=WEIGHTS):
    return f"/api/models/versions/{version.pk}/files/{path}"


@pytest.mark.django_db
def test_a_verified_file_redirects_to_a_presigned_url_of_its_object(curator_client, version):
    response = curator_client.get(file_url(version))

    assert response.status_code == 302
    assert response["ETag"] == f'"{version.files.get(path=WEIGHTS).sha256}"'
    _, body = fetch(response["Location"])
    assert body == StoredBlob(version.files.get(path=WEIGHTS).sha256).read_bytes()


@pytest.mark.django_db
def test_a_range_request_is_redirected_and_the_store_answers_the_range(curator_client, version):
    response = curator_client.get(file_url(version), HTTP_RANGE="bytes=10-19")

    status, body = fetch(response["Location"], {"Range": "bytes=10-19"})
    assert status == 206
    assert body == StoredBlob(version.files.get(path=WEIGHTS).sha256).read_bytes()[10:20]


@pytest.mark.django_db
def test_an_unverified_file_streams_through_the_app_and_is_redirected_next_time(
    curator_client, version
):
    BlobCheck.objects.all().delete()

    first = curator_client.get(file_url(version))
    body = b"".join(first.streaming_content)

    assert first.status_code == 200
    assert hashlib.sha256(body).hexdigest() == version.files.get(path=WEIGHTS).sha256
    assert curator_client.get(file_url(version)).status_code == 302


@pytest.mark.django_db
def test_a_changed_object_is_never_redirected_to(curator_client, version):
    StoredBlob(version.files.get(path=WEIGHTS).sha256).flip_last_byte()

    response = curator_client.get(file_url(version))

    assert response.status_code == 200  # streamed, hashed, and cut short before its end
    with pytest.raises(Exception, match="no longer matches"):
        b"".join(response.streaming_content)


@pytest.mark.django_db(transaction=True)
def test_the_hugging_face_client_follows_the_redirect_to_the_store(s3_store, client_env):  # noqa: F811
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(repo_id=REPO), promotable_run())

    out = run_client(
        client_env,
        f"""
        path = huggingface_hub.hf_hub_download({REPO!r}, {WEIGHTS!r}, revision="latest")
        result = open(path, "rb").read().hex()
        """,
    )

    assert "error" not in out, out
    expected = version.files.get(path=WEIGHTS).sha256
    assert hashlib.sha256(bytes.fromhex(out["result"])).hexdigest() == expected
