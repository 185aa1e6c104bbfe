"""The MLflow routes server-side: shapes, version numbers, odd input answered in MLflow's JSON."""

import base64
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.exceptions import BlobCorruptedError
from registry.mlflow import (
    CUSTOM_NUMBER_BASE,
    ERROR_NO_CREDENTIALS,
    find_artifact,
    mlflow_name,
    version_number,
)
from registry.models import ModelAlias, ModelVersion
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NAME = "gemma-sft"
API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def client(downloads_enabled):
    """A client sending a reader's token as MLflow does: `Authorization: Bearer`."""
    client = APIClient()
    token = Token.objects.create(user=UserFactory()).key
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def artifact(db):
    return ModelArtifactFactory(name=NAME, repo_id="acme/gemma-sft")


def promote(artifact, *, seed: int, label: str | None = None, layout: str = "lora"):
    version, _ = ModelVersion.objects.promote(
        artifact, promotable_run(seed=seed, layout=layout), version=label
    )
    return version


def assert_error(response, status: int, error_code: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == error_code
    assert response.json()["message"]


# ---- numbers and names ------------------------------------------------------------------------


def test_vn_labels_are_numbers_n_and_other_labels_base_plus_id(artifact):
    auto = promote(artifact, seed=1)
    custom = promote(artifact, seed=2, label="best")
    padded = promote(artifact, seed=3, label="v03")  # not `v3`: it must not take number 3

    assert version_number(auto) == 1
    assert version_number(custom) == CUSTOM_NUMBER_BASE + custom.pk
    assert version_number(padded) == CUSTOM_NUMBER_BASE + padded.pk


def test_a_huge_vn_label_is_a_custom_number_so_ranges_never_meet(artifact):
    huge = promote(artifact, seed=1, label=f"v{CUSTOM_NUMBER_BASE + 1}")

    assert version_number(huge) == CUSTOM_NUMBER_BASE + huge.pk


@pytest.mark.parametrize("number", ["9" * 19, str(CUSTOM_NUMBER_BASE + 2**63), "0", "1000000000"])
def test_numbers_out_of_every_range_do_not_exist(client, artifact, number):
    promote(artifact, seed=1)

    response = client.get(f"{API}/model-versions/get", {"name": NAME, "version": number})

    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_a_custom_number_does_not_name_a_vn_row(client, artifact):
    v1 = promote(artifact, seed=1)

    response = client.get(
        f"{API}/model-versions/get", {"name": NAME, "version": CUSTOM_NUMBER_BASE + v1.pk}
    )

    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_names_that_cannot_be_in_a_models_uri_use_the_repo_id():
    plain = ModelArtifactFactory(name="Gemma 3 SFT")
    slashed = ModelArtifactFactory(name="acme/gemma", repo_id="acme/gemma-x")
    hidden = ModelArtifactFactory(name="a:b", repo_id=None)

    assert mlflow_name(plain) == "Gemma 3 SFT"
    assert mlflow_name(slashed) == "acme--gemma-x"
    assert mlflow_name(hidden) is None
    assert find_artifact("gemma 3 sft") == plain
    assert find_artifact("ACME--gemma-x") == slashed


def test_a_safe_models_repo_id_is_not_a_second_name(client):
    ModelArtifactFactory(name="gemma", repo_id="acme/gemma-sft")

    response = client.get(f"{API}/registered-models/get", {"name": "acme--gemma-sft"})

    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


# ---- shapes -----------------------------------------------------------------------------------


def test_a_model_version_has_mlflows_fields(client, artifact):
    version = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", version)

    body = client.get(f"{API}/model-versions/get", {"name": NAME, "version": "1"}).json()

    found = body["model_version"]
    assert found["version"] == "1"
    assert found["aliases"] == ["production"]
    assert found["status"] == "READY"
    assert found["current_stage"] == "None"
    assert found["source"] == f"mlflow-artifacts:/registry/{NAME}/1"
    assert found["creation_timestamp"] == int(version.created_at.timestamp() * 1000)
    assert {"key": "tunix_rt.sha256", "value": version.sha256} in found["tags"]


def test_get_latest_versions_answers_post_and_get(client, artifact):
    promote(artifact, seed=1)
    promote(artifact, seed=2)

    posted = client.post(
        f"{API}/registered-models/get-latest-versions", {"name": NAME}, format="json"
    )
    got = client.get(f"{API}/registered-models/get-latest-versions", {"name": NAME})

    assert [v["version"] for v in posted.json()["model_versions"]] == ["2"]
    assert got.json() == posted.json()


def test_an_unknown_stage_is_an_invalid_parameter(client, artifact):
    response = client.post(
        f"{API}/registered-models/get-latest-versions",
        {"name": NAME, "stages": ["Limbo"]},
        format="json",
    )

    assert_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_listing_names_entries_relative_to_the_listed_directory(client, artifact):
    promote(artifact, seed=1, layout="full")

    root = client.get(ARTIFACTS, {"path": f"registry/{NAME}/1"}).json()["files"]

    assert {f["path"] for f in root} == {"config.json", "model.safetensors"}
    assert all(f["is_dir"] is False and f["file_size"] > 0 for f in root)


def test_listing_shows_directories_one_level_at_a_time(client, artifact):
    run = promotable_run(layout="full", seed=1)
    (Path(run.output_dir) / "tokenizer" / "deep").mkdir(parents=True)
    (Path(run.output_dir) / "tokenizer" / "deep" / "vocab.json").write_text("{}")
    (Path(run.output_dir) / "tokenizer" / "merges.txt").write_text("a b")
    ModelVersion.objects.promote(artifact, run)

    root = client.get(ARTIFACTS, {"path": f"registry/{NAME}/1"}).json()["files"]
    sub = client.get(ARTIFACTS, {"path": f"registry/{NAME}/1/tokenizer"}).json()["files"]

    assert {"path": "tokenizer", "is_dir": True} in root
    assert sub == [
        {"path": "deep", "is_dir": True},
        {"path": "merges.txt", "is_dir": False, "file_size": 3},
    ]


def test_listing_a_file_lists_nothing(client, artifact):
    promote(artifact, seed=1, layout="full")

    response = client.get(ARTIFACTS, {"path": f"registry/{NAME}/1/config.json"})

    assert response.json() == {"files": []}


def test_a_file_download_is_the_blob_with_its_etag_and_a_range(client, artifact, settings):
    version = promote(artifact, seed=1, layout="full")
    entry = version.files.get(path="config.json")
    stored = StoredBlob(entry.sha256).read_bytes()

    whole = client.get(f"{ARTIFACTS}/registry/{NAME}/1/config.json")
    tail = client.get(f"{ARTIFACTS}/registry/{NAME}/1/config.json", HTTP_RANGE="bytes=5-")

    assert b"".join(whole.streaming_content) == stored
    assert whole["ETag"] == f'"{entry.sha256}"'
    assert tail.status_code == 206
    assert b"".join(tail.streaming_content) == stored[5:]


def test_a_changed_blob_is_cut_short_never_served_whole(client, artifact, settings):
    version = promote(artifact, seed=1, layout="full")
    entry = version.files.get(path="model.safetensors")
    blob = StoredBlob(entry.sha256)
    data = blob.read_bytes()
    blob.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, one bit flipped

    response = client.get(f"{ARTIFACTS}/registry/{NAME}/1/model.safetensors")
    received = bytearray()
    with pytest.raises(BlobCorruptedError):
        for chunk in response.streaming_content:
            received += chunk

    assert len(received) < entry.size_bytes


def test_server_info_says_no_multipart_downloads(api_client):
    response = api_client.get("/api/3.0/mlflow/server-info")

    assert response.json()["multipart_downloads_enabled"] is False


# ---- refusals and odd input -------------------------------------------------------------------


def test_no_credentials_is_unauthenticated_in_mlflows_shape(api_client, artifact):
    response = api_client.get(f"{API}/registered-models/get", {"name": NAME})

    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.json()["message"] == ERROR_NO_CREDENTIALS


def test_downloads_disabled_refuse_the_bytes_but_not_the_listing(client, artifact, settings):
    promote(artifact, seed=1, layout="full")
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = False, False

    listing = client.get(ARTIFACTS, {"path": f"registry/{NAME}/1"})
    response = client.get(f"{ARTIFACTS}/registry/{NAME}/1/config.json")

    assert listing.status_code == 200
    assert_error(response, 403, "PERMISSION_DENIED")
    assert "REGISTRY_DOWNLOADS_ENABLED" in response.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/registered-models/create",
        f"{API}/model-versions/transition-stage",
        f"{API}/experiments/search",
        "/api/3.0/mlflow/traces",
        "/api/2.0/mlflow-artifacts/mpu/create/x",
    ],
)
def test_other_routes_and_writes_are_endpoint_not_found_as_json(client, url):
    assert_error(client.post(url, {}, format="json"), 404, "ENDPOINT_NOT_FOUND")


def test_a_write_to_a_read_route_is_endpoint_not_found(client, artifact):
    response = client.post(
        f"{API}/registered-models/alias",
        {"name": NAME, "alias": "production", "version": "1"},
        format="json",
    )

    assert_error(response, 405, "ENDPOINT_NOT_FOUND")


@pytest.mark.parametrize(
    "params",
    [
        {"name": "x" * 10_000},
        {"name": ""},
        {"name": "a/b/c"},
        {"name": "é" * 300},
    ],
)
def test_odd_names_do_not_exist(client, params):
    response = client.get(f"{API}/registered-models/get", params)

    assert response.status_code in (400, 404)
    assert response.json()["error_code"] in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("version", ["abc", "-1", "1.0", "9" * 40, "٣", ""])
def test_a_version_that_is_not_digits_is_an_invalid_parameter(client, artifact, version):
    promote(artifact, seed=1)

    response = client.get(f"{API}/model-versions/get", {"name": NAME, "version": version})

    assert_error(response, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("alias", ["x" * 500, "a b", "../etc", "prod\n"])
def test_odd_aliases_do_not_exist(client, artifact, alias):
    response = client.get(f"{API}/registered-models/alias", {"name": NAME, "alias": alias})

    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    "filter_string",
    [
        "name = ",
        "name = 'a' OR name = 'b'",
        "nme = 'a'",
        "name LIKE 5",
        "name = 'unterminated",
        "tags. = 'x'",
        "version_number LIKE '1'",
        "(((((",
        "name = 'a' AND " * 400 + "name = 'a'",
        "name IN ('a',",
        "\\",
    ],
)
def test_bad_filters_are_invalid_parameters(client, artifact, filter_string):
    for route in ("registered-models/search", "model-versions/search"):
        response = client.get(f"{API}/{route}", {"filter": filter_string})

        assert_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_a_like_pattern_made_to_backtrack_answers_quickly(client, artifact):
    import time

    ModelArtifactFactory(name="a" * 199)
    started = time.monotonic()

    response = client.get(
        f"{API}/registered-models/search", {"filter": "name LIKE '" + "%a" * 500 + "%b'"}
    )

    assert response.json()["registered_models"] == []
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "params",
    [
        {"max_results": "0"},
        {"max_results": "-5"},
        {"max_results": "ten"},
        {"page_token": "not base64!"},
        {"page_token": base64.urlsafe_b64encode(b'{"offset": -1}').decode()},
        {"page_token": base64.urlsafe_b64encode(b"[1]").decode()},
        {"order_by": "size DESC"},
        {"order_by": "name SIDEWAYS"},
    ],
)
def test_bad_paging_and_ordering_are_invalid_parameters(client, params):
    for route in ("registered-models/search", "model-versions/search"):
        response = client.get(f"{API}/{route}", params)

        assert_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_a_huge_max_results_is_capped_and_pages_on(client):
    for index in range(3):
        ModelArtifactFactory(name=f"m{index}")

    body = client.get(f"{API}/registered-models/search", {"max_results": "9" * 30}).json()

    assert len(body["registered_models"]) == 3


def test_the_clients_prompt_clause_keeps_every_model(client, artifact):
    response = client.get(
        f"{API}/registered-models/search",
        {"filter": "name = 'gemma-sft' AND tag.`mlflow.prompt.is_prompt` != 'true'"},
    )

    assert [m["name"] for m in response.json()["registered_models"]] == [NAME]


@pytest.mark.parametrize(
    "path",
    [
        "registry",
        "registry/gemma-sft",
        "elsewhere/gemma-sft/1",
        "registry/no-such/1",
        "registry/gemma-sft/7",
        "registry/gemma-sft/x",
        "registry/" + "x" * 5000 + "/1",
    ],
)
def test_odd_artifact_paths_are_refused_in_mlflows_shape(client, artifact, path):
    promote(artifact, seed=1)

    listing = client.get(ARTIFACTS, {"path": path})
    fetched = client.get(f"{ARTIFACTS}/{path}/config.json")

    for response in (listing, fetched):
        assert response.status_code in (400, 404)
        assert response.json()["error_code"] in (
            "RESOURCE_DOES_NOT_EXIST",
            "INVALID_PARAMETER_VALUE",
        )


def test_a_missing_file_does_not_exist(client, artifact):
    promote(artifact, seed=1)

    response = client.get(f"{ARTIFACTS}/registry/{NAME}/1/nothing-here.bin")

    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_malformed_json_is_a_malformed_request(client, artifact):
    response = client.post(
        f"{API}/registered-models/get-latest-versions",
        data="{not json",
        content_type="application/json",
    )

    assert_error(response, 400, "MALFORMED_REQUEST")


def test_a_json_body_that_is_not_an_object_is_refused(client, artifact):
    response = client.post(
        f"{API}/registered-models/get-latest-versions",
        data="[1, 2]",
        content_type="application/json",
    )

    assert_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_search_queries_do_not_grow_with_the_page(client, django_assert_max_num_queries):
    for index in range(4):
        promote(ModelArtifactFactory(name=f"model-{index}"), seed=index)

    with django_assert_max_num_queries(12):
        body = client.get(f"{API}/registered-models/search").json()

    assert len(body["registered_models"]) == 4


def test_basic_auth_failures_count_toward_the_login_lockout(settings, artifact):
    user = UserFactory(username="alice")
    user.set_password("right-password")
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"alice:wrong").decode())
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.get(f"{API}/registered-models/get", {"name": NAME})
    right = base64.b64encode(b"alice:right-password").decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {right}")

    response = client.get(f"{API}/registered-models/get", {"name": NAME})

    assert_error(response, 401, "UNAUTHENTICATED")


def test_basic_auth_with_the_right_password_reads(artifact):
    user = UserFactory(username="bob")
    user.set_password("right-password")
    user.save()
    client = APIClient()
    right = base64.b64encode(b"bob:right-password").decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {right}")

    response = client.get(f"{API}/registered-models/get", {"name": NAME})

    assert response.json()["registered_model"]["name"] == NAME


def test_our_tags_in_mlflows_namespace_are_left_out(client, artifact):
    version = promote(artifact, seed=1)
    version.set_tags(["mlflow.prompt.is_prompt", "candidate"])

    body = client.get(f"{API}/registered-models/alias", {"name": NAME, "alias": "latest"}).json()

    keys = {tag["key"] for tag in body["model_version"]["tags"]}
    assert "candidate" in keys
    assert not any(key.startswith("mlflow.") for key in keys)


@pytest.mark.parametrize(
    "run_id", ["not-a-uuid", "1" * 500, "00000000-0000-0000-0000-000000000000"]
)
def test_a_run_id_that_names_no_run_finds_nothing(client, artifact, run_id):
    promote(artifact, seed=1)

    response = client.get(f"{API}/model-versions/search", {"filter": f"run_id = '{run_id}'"})

    assert response.json()["model_versions"] == []


def test_a_throttled_client_is_told_to_wait_in_mlflows_shape(client, artifact, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": None, "user": "2/minute"})
    for _ in range(2):
        client.get(f"{API}/registered-models/get", {"name": NAME})

    response = client.get(f"{API}/registered-models/get", {"name": NAME})

    assert_error(response, 429, "REQUEST_LIMIT_EXCEEDED")
    assert int(response["Retry-After"]) > 0


def test_a_missing_blob_is_an_invalid_state_before_any_byte(client, artifact, settings):
    version = promote(artifact, seed=1, layout="full")
    entry = version.files.get(path="model.safetensors")
    StoredBlob(entry.sha256).unlink()

    response = client.get(f"{ARTIFACTS}/registry/{NAME}/1/model.safetensors")

    assert_error(response, 409, "INVALID_STATE")
