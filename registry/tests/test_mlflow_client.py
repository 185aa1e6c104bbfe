"""The real mlflow-skinny client against a live server on loopback: `MLFLOW_TRACKING_URI` reads us.

The client reads its environment at each call, so it runs in this process, against pytest-django's
live_server thread; nothing of it is mocked. Retries are off so that a refusal is seen at once.
"""

import gc
import hashlib
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.utils import request_utils
from rest_framework.authtoken.models import Token

from registry.mlflow import CUSTOM_NUMBER_BASE
from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "gemma-sft"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _downloads(settings):
    settings.REGISTRY_DOWNLOADS_ENABLED = True


@pytest.fixture
def user(db):
    user = UserFactory(username="reader")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def token(user):
    return Token.objects.create(user=user).key


@pytest.fixture
def artifact(db):
    return ModelArtifactFactory(name=NAME, repo_id="acme/gemma-sft")


@pytest.fixture
def server(live_server, monkeypatch):
    """Point the client at the live server, with no credentials and no retries."""
    for key in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield monkeypatch
    # The client keeps one keep-alive session per process: drop it, so that its sockets close
    # and the live server's threads end before the test database goes.
    request_utils._cached_get_request_session.cache_clear()
    gc.collect()


@pytest.fixture
def client_env(server, token):
    """The client environment of a user with a token: MLFLOW_TRACKING_TOKEN."""
    server.setenv("MLFLOW_TRACKING_TOKEN", token)
    return server


def promote(artifact, *, seed: int, layout: str = "lora", label: str | None = None):
    version, _ = ModelVersion.objects.promote(
        artifact, promotable_run(layout=layout, seed=seed), version=label
    )
    return version


def tree_digests(directory: str) -> dict[str, str]:
    root = Path(directory)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def manifest_digests(version) -> dict[str, str]:
    return {entry.path: entry.sha256 for entry in version.manifest()}


def download(uri: str, tmp_path: Path) -> dict[str, str]:
    target = tmp_path / f"dst-{len(list(tmp_path.iterdir()))}"
    target.mkdir()
    return tree_digests(mlflow.artifacts.download_artifacts(uri, dst_path=str(target)))


def error_code(raised) -> str:
    return raised.value.error_code


# ---- downloads --------------------------------------------------------------------------------


def test_download_by_version_number_holds_the_versions_bytes(artifact, client_env, tmp_path):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)

    assert download(f"models:/{NAME}/1", tmp_path) == manifest_digests(first)


def test_download_recurses_into_directories(artifact, client_env, tmp_path):
    run = promotable_run(layout="full", seed=1)
    (Path(run.output_dir) / "tokenizer" / "deep").mkdir(parents=True)
    (Path(run.output_dir) / "tokenizer" / "deep" / "vocab.json").write_text('{"a": 1}')
    version, _ = ModelVersion.objects.promote(artifact, run)

    got = download(f"models:/{NAME}/1", tmp_path)

    assert "tokenizer/deep/vocab.json" in got
    assert got == manifest_digests(version)


def test_download_by_alias_holds_the_versions_bytes(artifact, client_env, tmp_path):
    version = promote(artifact, seed=1, layout="full")
    promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", version)

    assert download(f"models:/{NAME}@production", tmp_path) == manifest_digests(version)


def test_download_latest_is_the_newest_ready_version(artifact, client_env, tmp_path):
    promote(artifact, seed=1)
    newest = promote(artifact, seed=2, label="best")  # a custom label: the biggest number too

    assert download(f"models:/{NAME}/latest", tmp_path) == manifest_digests(newest)


def test_number_alias_and_latest_give_byte_identical_files(artifact, client_env, tmp_path):
    version = promote(artifact, seed=3, layout="full")
    ModelAlias.objects.point(artifact, "production", version)

    by_number = download(f"models:/{NAME}/1", tmp_path)
    by_alias = download(f"models:/{NAME}@production", tmp_path)
    latest = download(f"models:/{NAME}/latest", tmp_path)

    assert by_number == by_alias == latest == manifest_digests(version)


def test_a_production_stage_reads_the_production_alias(artifact, client_env, tmp_path):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", first)

    assert download(f"models:/{NAME}/Production", tmp_path) == manifest_digests(first)


def test_moving_an_alias_is_seen_at_once(artifact, client_env, tmp_path):
    first, second = promote(artifact, seed=1), promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", first)
    assert download(f"models:/{NAME}@production", tmp_path) == manifest_digests(first)

    ModelAlias.objects.point(artifact, "production", second)

    assert download(f"models:/{NAME}@production", tmp_path) == manifest_digests(second)
    assert MlflowClient().get_model_version_by_alias(NAME, "production").version == "2"


def test_a_model_whose_name_cannot_be_in_a_uri_is_served_under_its_repo_id(client_env, tmp_path):
    artifact = ModelArtifactFactory(name="acme/gemma: sft", repo_id="acme/gemma-sft")
    version = promote(artifact, seed=1)

    assert download("models:/acme--gemma-sft/1", tmp_path) == manifest_digests(version)
    assert MlflowClient().get_registered_model("acme--gemma-sft").name == "acme--gemma-sft"


def test_a_model_name_with_spaces_downloads(client_env, tmp_path):
    artifact = ModelArtifactFactory(name="Gemma3 1B Tunix SFT")
    version = promote(artifact, seed=1)

    assert download("models:/Gemma3 1B Tunix SFT/latest", tmp_path) == manifest_digests(version)


# ---- MlflowClient reads -----------------------------------------------------------------------


def test_get_registered_model_holds_aliases_tags_and_the_newest_version(artifact, client_env):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", first)

    model = MlflowClient().get_registered_model(NAME)

    assert model.name == NAME
    assert model.aliases == {"production": "1"}
    assert [v.version for v in model.latest_versions] == ["2"]
    assert model.tags["tunix_rt.repo_id"] == "acme/gemma-sft"
    assert model.creation_timestamp == int(artifact.created_at.timestamp() * 1000)


def test_get_model_version_shows_the_label_digest_and_metrics(artifact, client_env):
    version = promote(artifact, seed=1)
    version.set_tags(["reviewed"])

    found = MlflowClient().get_model_version(NAME, "1")

    assert found.version == "1"
    assert found.status == "READY"
    assert found.current_stage == "None"
    assert found.run_id == str(version.source_run_id)
    assert found.tags["tunix_rt.label"] == "v1"
    assert found.tags["tunix_rt.sha256"] == version.sha256
    assert found.tags["reviewed"] == ""
    assert {k for k in found.tags if k.startswith("tunix_rt.metric.")}


def test_a_custom_label_gets_a_number_of_its_own_and_shows_both(artifact, client_env):
    promote(artifact, seed=1)
    custom = promote(artifact, seed=2, label="best")

    found = MlflowClient().get_model_version(NAME, str(CUSTOM_NUMBER_BASE + custom.pk))

    assert found.tags["tunix_rt.label"] == "best"
    assert found.version == str(CUSTOM_NUMBER_BASE + custom.pk)


def test_get_model_version_by_alias(artifact, client_env):
    promote(artifact, seed=1)
    second = promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "staging", second)

    found = MlflowClient().get_model_version_by_alias(NAME, "staging")

    assert (found.version, found.aliases) == ("2", ["staging"])


def test_get_latest_versions_is_the_newest_ready_version(artifact, client_env):
    promote(artifact, seed=1)
    promote(artifact, seed=2)

    with pytest.warns(FutureWarning):
        latest = MlflowClient().get_latest_versions(NAME)

    assert [v.version for v in latest] == ["2"]


def test_search_registered_models_by_name_and_like(artifact, client_env):
    promote(artifact, seed=1)
    ModelArtifactFactory(name="gemma-dpo")
    ModelArtifactFactory(name="llama-sft")
    client = MlflowClient()

    exact = client.search_registered_models(f"name = '{NAME}'")
    like = client.search_registered_models("name LIKE 'gemma%'")
    everything = client.search_registered_models()

    assert [m.name for m in exact] == [NAME]
    assert [m.name for m in like] == ["gemma-dpo", NAME]
    assert [m.name for m in everything] == ["gemma-dpo", NAME, "llama-sft"]
    assert [v.version for v in exact[0].latest_versions] == ["1"]


def test_search_registered_models_pages_with_a_token(client_env):
    for index in range(5):
        ModelArtifactFactory(name=f"model-{index}")
    client = MlflowClient()

    first = client.search_registered_models(max_results=2, order_by=["name DESC"])
    second = client.search_registered_models(
        max_results=2, order_by=["name DESC"], page_token=first.token
    )

    assert [m.name for m in first] == ["model-4", "model-3"]
    assert [m.name for m in second] == ["model-2", "model-1"]


def test_search_model_versions_by_name_run_id_and_tag(artifact, client_env):
    first = promote(artifact, seed=1)
    second = promote(artifact, seed=2)
    second.set_tags(["candidate"])
    promote(ModelArtifactFactory(name="other"), seed=3)
    client = MlflowClient()

    by_name = client.search_model_versions(f"name='{NAME}'")
    by_run = client.search_model_versions(f"run_id = '{first.source_run_id}'")
    by_tag = client.search_model_versions(f"name = '{NAME}' AND tags.candidate = ''")

    assert sorted(v.version for v in by_name) == ["1", "2"]
    assert [(v.name, v.version) for v in by_run] == [(NAME, "1")]
    assert [v.version for v in by_tag] == ["2"]


def test_search_model_versions_pages_with_a_token(artifact, client_env):
    for seed in range(3):
        promote(artifact, seed=seed)
    client = MlflowClient()

    first = client.search_model_versions(
        f"name='{NAME}'", max_results=2, order_by=["version_number ASC"]
    )
    rest = client.search_model_versions(
        f"name='{NAME}'", max_results=2, order_by=["version_number ASC"], page_token=first.token
    )

    assert [v.version for v in first] + [v.version for v in rest] == ["1", "2", "3"]
    assert not rest.token  # the proto default, an empty string, ends the paging


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_registered_model("no-such-model"),
        lambda c: c.get_model_version(NAME, "7"),
        lambda c: c.get_model_version_by_alias(NAME, "nowhere"),
        lambda c: c.get_model_version_download_uri("no-such-model", "1"),
        lambda c: c.get_model_version(NAME, str(CUSTOM_NUMBER_BASE + 99999)),
    ],
    ids=["model", "version", "alias", "download-uri", "custom-number"],
)
def test_unknown_names_versions_and_aliases_do_not_exist(artifact, client_env, call):
    promote(artifact, seed=1)

    with pytest.raises(RestException) as raised:
        call(MlflowClient())

    assert error_code(raised) == "RESOURCE_DOES_NOT_EXIST"


def test_downloading_an_unknown_alias_does_not_exist(artifact, client_env, tmp_path):
    promote(artifact, seed=1)

    with pytest.raises(RestException) as raised:
        download(f"models:/{NAME}@nowhere", tmp_path)

    assert error_code(raised) == "RESOURCE_DOES_NOT_EXIST"


def test_no_credentials_are_unauthenticated(artifact, server):
    promote(artifact, seed=1)

    with pytest.raises(RestException) as raised:
        MlflowClient().get_registered_model(NAME)

    assert error_code(raised) == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in raised.value.message


def test_a_bad_token_is_unauthenticated(artifact, server):
    promote(artifact, seed=1)
    server.setenv("MLFLOW_TRACKING_TOKEN", "0" * 40)

    with pytest.raises(RestException) as raised:
        MlflowClient().get_model_version(NAME, "1")

    assert error_code(raised) == "UNAUTHENTICATED"


def test_basic_auth_with_a_users_password_reads(artifact, server, user, tmp_path):
    version = promote(artifact, seed=1)
    server.setenv("MLFLOW_TRACKING_USERNAME", user.username)
    server.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)

    assert download(f"models:/{NAME}/1", tmp_path) == manifest_digests(version)


def test_basic_auth_with_a_wrong_password_is_unauthenticated(artifact, server, user):
    server.setenv("MLFLOW_TRACKING_USERNAME", user.username)
    server.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")

    with pytest.raises(RestException) as raised:
        MlflowClient().get_registered_model(NAME)

    assert error_code(raised) == "UNAUTHENTICATED"


def test_an_archived_version_is_listed_as_archived_and_its_files_refused(
    artifact, client_env, tmp_path
):
    artifact.keep_last_versions = 1
    artifact.save()
    promote(artifact, seed=1)
    promote(artifact, seed=2)  # retention archives v1

    found = MlflowClient().get_model_version(NAME, "1")
    with pytest.raises(RestException) as raised:
        download(f"models:/{NAME}/1", tmp_path)

    assert found.current_stage == "Archived"
    assert error_code(raised) == "RESOURCE_DOES_NOT_EXIST"
    assert "archived" in raised.value.message


def test_with_downloads_disabled_files_are_refused_with_the_reason(
    artifact, client_env, settings, tmp_path
):
    promote(artifact, seed=1)
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = False, False

    with pytest.raises(MlflowException) as raised:
        download(f"models:/{NAME}/1", tmp_path)

    assert "REGISTRY_DOWNLOADS_ENABLED" in str(raised.value)


def test_a_write_is_refused_as_an_unknown_endpoint(artifact, client_env):
    promote(artifact, seed=1)

    with pytest.raises(RestException) as raised:
        MlflowClient().set_registered_model_alias(NAME, "production", "1")

    assert error_code(raised) == "ENDPOINT_NOT_FOUND"
    assert "read side" in raised.value.message


def test_a_changed_blob_fails_the_download_instead_of_handing_over_other_bytes(
    artifact, client_env, settings, tmp_path
):
    from registry.tests.blobs import StoredBlob

    version = promote(artifact, seed=1, layout="full")
    entry = version.files.get(path="model.safetensors")
    blob = StoredBlob(entry.sha256)
    data = blob.read_bytes()
    blob.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, one bit flipped

    with pytest.raises(MlflowException) as raised:
        download(f"models:/{NAME}/1", tmp_path)

    assert "model.safetensors" in str(raised.value)
    written = list(tmp_path.glob("dst-*/**/model.safetensors"))
    assert all(p.stat().st_size < entry.size_bytes for p in written)
