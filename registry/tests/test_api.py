import hashlib
import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import ModelArtifact, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run

pytestmark = pytest.mark.django_db


def promoted(artifact=None, **kwargs):
    version, _ = ModelVersion.objects.promote(
        artifact or ModelArtifactFactory(), promotable_run(**kwargs)
    )
    return version


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# ---- permissions ------------------------------------------------------------------------------


def test_anonymous_users_cannot_read_models(api_client):
    assert api_client.get("/api/models").status_code in (401, 403)


def test_logged_in_users_can_read_but_not_create_models(reader_client):
    assert reader_client.get("/api/models").status_code == 200
    assert reader_client.post("/api/models", {"name": "x"}, format="json").status_code == 403


def test_curators_create_models(curator_client):
    response = curator_client.post(
        "/api/models",
        {"name": "Gemma3-1B Tunix SFT", "description": "SFT", "task_type": "causal-lm"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "Gemma3-1B Tunix SFT"
    assert response.json()["version_count"] == 0
    assert ModelArtifact.objects.get().task_type == "causal-lm"


def test_model_names_are_unique_ignoring_case(curator_client):
    ModelArtifactFactory(name="Gemma SFT")

    response = curator_client.post("/api/models", {"name": "gemma sft"}, format="json")

    assert response.status_code == 400
    assert "already exists" in str(response.json())


def test_a_token_authenticates_a_curator(curator_token_client):
    response = curator_token_client.post("/api/models", {"name": "via token"}, format="json")

    assert response.status_code == 201


def test_session_writes_need_a_csrf_token(curator):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)

    response = client.post("/api/models", {"name": "no csrf"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_logged_in_users_without_permission_cannot_promote(reader_client):
    artifact = ModelArtifactFactory()
    run = promotable_run()

    response = reader_client.post(
        f"/api/models/{artifact.pk}/versions/promote", {"source_run_id": str(run.id)}, format="json"
    )

    assert response.status_code == 403
    assert not ModelVersion.objects.exists()


def test_logged_in_users_without_permission_cannot_edit_tags(reader_client):
    version = promoted()

    response = reader_client.patch(
        f"/api/models/versions/{version.pk}", {"tags": ["x"]}, format="json"
    )

    assert response.status_code == 403


# ---- listing and details --------------------------------------------------------------------


def test_list_carries_version_counts_and_latest_version(reader_client):
    artifact = ModelArtifactFactory(name="A")
    promoted(artifact, seed=1)
    latest = promoted(artifact, seed=2)
    ModelArtifactFactory(name="B")

    results = reader_client.get("/api/models").json()["results"]

    assert [r["name"] for r in results] == ["A", "B"]
    assert results[0]["version_count"] == 2
    assert results[0]["latest_version"]["version"] == latest.version
    assert results[0]["latest_version"]["sha256"] == latest.sha256
    assert results[1]["latest_version"] is None


def test_list_searches_name_and_description(reader_client):
    ModelArtifactFactory(name="Gemma chat", description="dialogue")
    ModelArtifactFactory(name="Llama", description="summaries of gemma outputs")
    ModelArtifactFactory(name="Mistral", description="code")

    names = {r["name"] for r in reader_client.get("/api/models?search=GEMMA").json()["results"]}

    assert names == {"Gemma chat", "Llama"}


def test_list_filters_by_task_type(reader_client):
    ModelArtifactFactory(name="a", task_type="chat")
    ModelArtifactFactory(name="b", task_type="classification")

    results = reader_client.get("/api/models?task_type=chat").json()["results"]

    assert [r["name"] for r in results] == ["a"]


@pytest.mark.parametrize("models", [1, 12])
def test_list_uses_a_constant_number_of_queries(reader_client, models):
    for _ in range(models):
        artifact = ModelArtifactFactory()
        promoted(artifact, seed=1)
        promoted(artifact, seed=2)

    with CaptureQueriesContext(connection) as queries:
        response = reader_client.get("/api/models")

    assert response.status_code == 200
    assert len(response.json()["results"]) == models
    # session, user, count, page: the same whatever the page holds.
    assert len(queries) == 4, [q["sql"] for q in queries]


def test_detail_lists_versions_newest_first(reader_client):
    artifact = ModelArtifactFactory()
    first = promoted(artifact, seed=1)
    second = promoted(artifact, seed=2)

    response = reader_client.get(f"/api/models/{artifact.pk}")

    assert response.status_code == 200
    assert [v["version"] for v in response.json()["versions"]] == [second.version, first.version]


def test_unknown_model_is_a_404(reader_client):
    assert reader_client.get("/api/models/999999").status_code == 404


def test_version_detail_has_manifest_metrics_config_provenance_and_run_link(reader_client):
    version = promoted(metrics={"eval_loss": 0.25})

    data = reader_client.get(f"/api/models/versions/{version.pk}").json()

    assert {f["path"] for f in data["manifest"]} == {
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in data["manifest"])
    assert data["metrics_json"] == {"eval_loss": 0.25}
    assert data["config_json"] == version.config_json
    assert data["provenance_json"]["run_id"] == str(version.source_run_id)
    assert data["source_run"].endswith(f"/api/runs/{version.source_run_id}")
    assert data["download_url"].endswith(f"/api/models/versions/{version.pk}/download")


# ---- promotion ------------------------------------------------------------------------------


def promote(client, artifact, run, **extra):
    return client.post(
        f"/api/models/{artifact.pk}/versions/promote",
        {"source_run_id": str(run.id), **extra},
        format="json",
    )


def test_promote_returns_201_with_the_new_version(curator_client):
    artifact = ModelArtifactFactory()

    response = promote(curator_client, artifact, promotable_run(), tags=["candidate"])

    assert response.status_code == 201, response.json()
    assert response.json()["version"] == "v1"
    assert response.json()["tags"] == ["candidate"]
    assert response.json()["provenance_json"]["promoted_by"] == "curator"


def test_promote_again_returns_200_with_the_existing_version(curator_client):
    artifact, run = ModelArtifactFactory(), promotable_run()
    first = promote(curator_client, artifact, run).json()

    response = promote(curator_client, artifact, run)

    assert response.status_code == 200
    assert response.json()["id"] == first["id"]


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("running", 400, "run_not_completed"),
        ("failed", 400, "run_failed"),
        ("empty", 400, "nothing_promotable"),
        ("bad_label", 400, "invalid_label"),
        ("unknown_run", 404, "run_not_found"),
    ],
)
def test_promote_refusals_are_4xx_with_detail_and_code(curator_client, setup, status, code):
    artifact = ModelArtifactFactory()
    run = promotable_run()
    extra = {}
    if setup in ("running", "failed"):
        run.status = setup
        run.save()
    elif setup == "empty":
        for path in list(Path(run.output_dir).iterdir()):
            path.unlink()
    elif setup == "bad_label":
        extra["version"] = "../etc"
    elif setup == "unknown_run":
        run.id = "00000000-0000-0000-0000-000000000000"

    response = promote(curator_client, artifact, run, **extra)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]


def test_promote_a_duplicate_label_is_409(curator_client):
    artifact = ModelArtifactFactory()
    promote(curator_client, artifact, promotable_run(seed=1), version="gold")

    response = promote(curator_client, artifact, promotable_run(seed=2), version="gold")

    assert response.status_code == 409
    assert response.json()["code"] == "label_taken"


def test_promote_a_failed_run_with_force(curator_client):
    run = promotable_run()
    run.status = "failed"
    run.save()

    response = promote(curator_client, ModelArtifactFactory(), run, force=True)

    assert response.status_code == 201
    assert response.json()["provenance_json"]["forced"] is True


def test_promote_into_an_unknown_model_is_404(curator_client):
    response = curator_client.post(
        "/api/models/999999/versions/promote",
        {"source_run_id": str(promotable_run().id)},
        format="json",
    )

    assert response.status_code == 404


def test_promote_without_a_run_id_is_a_field_error(curator_client):
    response = curator_client.post(
        f"/api/models/{ModelArtifactFactory().pk}/versions/promote", {}, format="json"
    )

    assert response.status_code == 400
    assert "source_run_id" in response.json()["errors"]


# ---- tags and immutability ------------------------------------------------------------------


def test_patch_replaces_tags(curator_client):
    version = promoted()

    response = curator_client.patch(
        f"/api/models/versions/{version.pk}", {"tags": ["production", "reviewed"]}, format="json"
    )

    assert response.status_code == 200
    version.refresh_from_db()
    assert version.tags == ["production", "reviewed"]


def test_patch_of_another_field_is_refused_explaining_immutability(curator_client):
    version = promoted()

    response = curator_client.patch(
        f"/api/models/versions/{version.pk}",
        {"tags": ["x"], "metrics_json": {"eval_loss": 0}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "immutable"
    assert "only its tags can change" in response.json()["detail"]
    version.refresh_from_db()
    assert version.tags == []


def test_patch_with_a_path_like_tag_is_refused(curator_client):
    version = promoted()

    response = curator_client.patch(
        f"/api/models/versions/{version.pk}", {"tags": ["a/b"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_tag"


# ---- downloads ------------------------------------------------------------------------------


def test_download_is_refused_with_debug_off_unless_enabled(reader_client, settings):
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = False, False
    version = promoted()

    zip_response = reader_client.get(f"/api/models/versions/{version.pk}/download")
    file_response = reader_client.get(
        f"/api/models/versions/{version.pk}/files/adapter_config.json"
    )

    assert zip_response.status_code == 403
    assert "REGISTRY_DOWNLOADS_ENABLED" in zip_response.json()["detail"]
    assert file_response.status_code == 403


def test_download_is_allowed_when_debug_is_on(reader_client, settings):
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = True, False
    version = promoted()

    assert reader_client.get(f"/api/models/versions/{version.pk}/download").status_code == 200


def test_download_needs_login(api_client, downloads_enabled):
    version = promoted()

    assert api_client.get(f"/api/models/versions/{version.pk}/download").status_code in (401, 403)


def test_download_round_trip_checks_with_sha256sum(reader_client, downloads_enabled, tmp_path):
    artifact = ModelArtifactFactory(name='Gemma "SFT" / 1B')
    version = promoted(artifact)

    response = reader_client.get(
        f"/api/models/versions/{version.pk}/download", HTTP_ACCEPT="application/zip"
    )
    data = body(response)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert int(response["Content-Length"]) == len(data)
    assert response["ETag"] == f'W/"{version.sha256}"'
    assert 'filename="Gemma_SFT_1B-v1.zip"' in response["Content-Disposition"]
    archive = tmp_path / "download.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as z:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        assert sorted(z.namelist()) == [
            "SHA256SUMS",
            "adapter_config.json",
            "adapter_model.safetensors",
        ]
    out = tmp_path / "out"
    subprocess.run(["unzip", "-q", str(archive), "-d", str(out)], check=True)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest() == version.sha256


def test_download_of_a_version_with_a_missing_blob_is_refused_before_streaming(
    reader_client, downloads_enabled, settings
):
    from registry.tests.blobs import StoredBlob

    version = promoted()
    StoredBlob(version.files.first().sha256).unlink()

    response = reader_client.get(f"/api/models/versions/{version.pk}/download")

    assert response.status_code == 409
    assert response.json()["code"] == "blob_missing"


def test_single_file_download_has_its_sha256_as_etag(reader_client, downloads_enabled):
    version = promoted()
    entry = version.files.get(path="adapter_model.safetensors")

    response = reader_client.get(
        f"/api/models/versions/{version.pk}/files/adapter_model.safetensors"
    )
    data = body(response)

    assert response.status_code == 200
    assert response["ETag"] == f'"{entry.sha256}"'
    assert response["Accept-Ranges"] == "bytes"
    assert hashlib.sha256(data).hexdigest() == entry.sha256


def test_a_resumed_download_equals_the_whole(reader_client, downloads_enabled):
    version = promoted()
    url = f"/api/models/versions/{version.pk}/files/adapter_model.safetensors"
    whole = body(reader_client.get(url))
    cut = len(whole) // 3

    head = reader_client.get(url, HTTP_RANGE=f"bytes=0-{cut - 1}")
    tail = reader_client.get(url, HTTP_RANGE=f"bytes={cut}-")

    assert (head.status_code, tail.status_code) == (206, 206)
    assert tail["Content-Range"] == f"bytes {cut}-{len(whole) - 1}/{len(whole)}"
    assert int(tail["Content-Length"]) == len(whole) - cut
    assert body(head) + body(tail) == whole


def test_a_suffix_range_returns_the_last_bytes(reader_client, downloads_enabled):
    version = promoted()
    url = f"/api/models/versions/{version.pk}/files/adapter_model.safetensors"
    whole = body(reader_client.get(url))

    response = reader_client.get(url, HTTP_RANGE="bytes=-100")

    assert response.status_code == 206
    assert body(response) == whole[-100:]


def test_a_range_outside_the_file_is_416(reader_client, downloads_enabled):
    version = promoted()
    url = f"/api/models/versions/{version.pk}/files/adapter_config.json"

    response = reader_client.get(url, HTTP_RANGE="bytes=999999-")

    assert response.status_code == 416
    assert response["Content-Range"].startswith("bytes */")


def test_a_stale_if_range_gets_the_whole_file(reader_client, downloads_enabled):
    version = promoted()
    url = f"/api/models/versions/{version.pk}/files/adapter_config.json"

    response = reader_client.get(url, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE='"not-the-etag"')

    assert response.status_code == 200


def test_if_none_match_with_the_etag_is_304(reader_client, downloads_enabled):
    version = promoted()
    entry = version.files.get(path="adapter_config.json")

    response = reader_client.get(
        f"/api/models/versions/{version.pk}/files/adapter_config.json",
        HTTP_IF_NONE_MATCH=f'"{entry.sha256}"',
    )

    assert response.status_code == 304


def test_a_file_not_in_the_version_is_404(reader_client, downloads_enabled):
    version = promoted()

    response = reader_client.get(f"/api/models/versions/{version.pk}/files/../../etc/passwd")

    assert response.status_code == 404


def test_nested_paths_are_served(reader_client, downloads_enabled):
    run = promotable_run()
    nested = Path(run.output_dir) / "tokenizer"
    nested.mkdir()
    (nested / "tokenizer.json").write_text('{"v": 1}')
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    response = reader_client.get(
        f"/api/models/versions/{version.pk}/files/tokenizer/tokenizer.json"
    )

    assert body(response) == b'{"v": 1}'


# ---- verification ---------------------------------------------------------------------------


def test_verify_reports_every_file(reader_client):
    version = promoted()

    response = reader_client.post(f"/api/models/versions/{version.pk}/verify")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert {f["status"] for f in response.json()["files"]} == {"ok"}


def test_verify_reports_a_tampered_file(reader_client, settings):
    from registry.tests.blobs import StoredBlob

    version = promoted()
    entry = version.files.get(path="adapter_model.safetensors")
    StoredBlob(entry.sha256).write_bytes(b"x")

    data = reader_client.post(f"/api/models/versions/{version.pk}/verify").json()

    assert data["ok"] is False
    bad = [f for f in data["files"] if f["status"] != "ok"]
    assert bad == [
        {
            "path": "adapter_model.safetensors",
            "expected": entry.sha256,
            "actual": hashlib.sha256(b"x").hexdigest(),
            "status": "mismatch",
        }
    ]


# ---- schema ---------------------------------------------------------------------------------


def test_the_openapi_schema_validates_and_lists_every_route(reader_client):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    import json

    paths = json.loads(out.getvalue())["paths"]
    for path in (
        "/api/models",
        "/api/models/{id}",
        "/api/models/{id}/versions/promote",
        "/api/models/versions/{id}",
        "/api/models/versions/{id}/download",
        "/api/models/versions/{id}/files/{path}",
        "/api/models/versions/{id}/verify",
        "/api/runs/",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), (path, list(paths))


def test_the_interactive_docs_are_served_without_a_cdn(reader_client):
    response = reader_client.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()


def test_zip_stream_is_not_held_in_memory(reader_client, downloads_enabled):
    version = promoted()

    response = reader_client.get(f"/api/models/versions/{version.pk}/download")

    assert response.streaming
    assert isinstance(next(iter(response.streaming_content)), bytes | io.BytesIO | memoryview)
    response.close()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL connections")
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_promote_requests_answer_201_once_and_200_otherwise(curator):
    from rest_framework.test import APIClient

    from registry.tests.test_managers import run_concurrently

    artifact, run = ModelArtifactFactory(), promotable_run()

    def request(_):
        client = APIClient()
        client.force_authenticate(curator)
        return client.post(
            f"/api/models/{artifact.pk}/versions/promote",
            {"source_run_id": str(run.id)},
            format="json",
        ).status_code

    statuses, errors = run_concurrently(8, request)

    assert errors == []
    assert sorted(statuses) == [200] * 7 + [201]
    assert ModelVersion.objects.count() == 1
