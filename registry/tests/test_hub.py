"""The Hub file protocol's routes, headers and refusals, request by request."""

import hashlib
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from registry import hub
from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REPO = "acme/gemma-sft"
HUB_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def _downloads(settings):
    settings.REGISTRY_DOWNLOADS_ENABLED = True


@pytest.fixture
def bearer(db):
    return {"HTTP_AUTHORIZATION": f"Bearer {Token.objects.create(user=UserFactory()).key}"}


@pytest.fixture
def artifact(db):
    return ModelArtifactFactory(repo_id=REPO)


@pytest.fixture
def version(artifact):
    version, _ = ModelVersion.objects.promote(artifact, promotable_run(layout="full", seed=1))
    return version


def resolve_url(revision: str, path: str, repo: str = REPO) -> str:
    return f"/hf/{repo}/resolve/{revision}/{path}"


# ---- repo info ----------------------------------------------------------------------------------


def test_repo_info_names_the_commit_and_files(client, bearer, version):
    info = client.get(f"/hf/api/models/{REPO}/revision/latest", **bearer).json()

    assert (info["id"], info["sha"], sorted(s["rfilename"] for s in info["siblings"])) == (
        REPO,
        version.commit,
        sorted(f.path for f in version.files.all()),
    )


def test_repo_info_times_end_in_z_with_milliseconds(client, bearer, version):
    info = client.get(f"/hf/api/models/{REPO}", **bearer).json()

    assert HUB_TIME.match(info["lastModified"]) and HUB_TIME.match(info["createdAt"])


def test_repo_info_reports_the_library_of_the_layout(client, bearer, artifact):
    ModelVersion.objects.promote(artifact, promotable_run(layout="lora", seed=2))

    info = client.get(f"/hf/api/models/{REPO}", **bearer).json()

    assert (info["library_name"], info["pipeline_tag"], info["gated"], info["disabled"]) == (
        "peft",
        "text-generation",
        False,
        False,
    )


def test_repo_ids_match_ignoring_case(client, bearer, version):
    response = client.get("/hf/api/models/ACME/Gemma-SFT", **bearer)

    assert response.json()["sha"] == version.commit


def test_commit_id_is_40_lowercase_hex(version):
    assert re.fullmatch(r"[0-9a-f]{40}", version.commit)


def test_commit_ids_differ_between_versions_of_identical_content(artifact):
    first, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    second, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))

    assert first.sha256 == second.sha256 and first.commit != second.commit


# ---- tree ---------------------------------------------------------------------------------------


def test_tree_lists_files_with_their_sha256_as_lfs_oid(client, bearer, version):
    entries = client.get(
        f"/hf/api/models/{REPO}/tree/{version.commit}?recursive=True", **bearer
    ).json()

    assert {e["path"]: (e["size"], e["lfs"]["oid"]) for e in entries} == {
        f.path: (f.size_bytes, f.sha256) for f in version.files.all()
    }


def test_tree_never_mentions_xet(client, bearer, version):
    response = client.get(f"/hf/api/models/{REPO}/tree/latest?recursive=1&expand=1", **bearer)

    assert "xet" not in response.content.decode().lower()


def test_tree_of_a_directory_lists_its_children_and_folders(client, bearer, artifact):
    run = promotable_run(seed=3)
    nested = Path(run.output_dir) / "tokenizer" / "extra"
    nested.mkdir(parents=True)
    (nested / "vocab.txt").write_text("a b c")
    (nested.parent / "config.json").write_text("{}")
    ModelVersion.objects.promote(artifact, run)

    flat = client.get(f"/hf/api/models/{REPO}/tree/latest/tokenizer", **bearer).json()

    assert [(e["type"], e["path"]) for e in flat] == [
        ("file", "tokenizer/config.json"),
        ("directory", "tokenizer/extra"),
    ]


def test_tree_pages_with_a_link_header(client, bearer, version, monkeypatch):
    monkeypatch.setattr(hub, "TREE_PAGE_SIZE", 1)

    first = client.get(f"/hf/api/models/{REPO}/tree/latest?recursive=True", **bearer)
    following = client.get(re.search(r"<([^>]+)>", first["Link"]).group(1), **bearer)

    assert (len(first.json()), following.json()[0]["path"]) == (
        1,
        sorted(f.path for f in version.files.all())[1],
    )


def test_tree_of_a_missing_path_is_entry_not_found(client, bearer, version):
    response = client.get(f"/hf/api/models/{REPO}/tree/latest/nowhere", **bearer)

    assert (response.status_code, response["X-Error-Code"]) == (404, "EntryNotFound")


# ---- resolve ------------------------------------------------------------------------------------


def test_head_reports_the_real_size_and_commit(client, bearer, version):
    entry = version.files.get(path="model.safetensors")

    response = client.head(resolve_url("latest", entry.path), **bearer)

    assert (
        response.status_code,
        response["X-Repo-Commit"],
        response["X-Linked-Etag"],
        response["X-Linked-Size"],
        response["Content-Length"],
    ) == (200, version.commit, f'"{entry.sha256}"', str(entry.size_bytes), str(entry.size_bytes))


def test_get_serves_the_files_bytes(client, bearer, version):
    entry = version.files.get(path="model.safetensors")

    response = client.get(resolve_url(version.commit, entry.path), **bearer)

    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == entry.sha256


def test_get_with_an_open_range_resumes_at_that_byte(client, bearer, version):
    entry = version.files.get(path="model.safetensors")
    whole = b"".join(client.get(resolve_url("latest", entry.path), **bearer).streaming_content)

    response = client.get(resolve_url("latest", entry.path), HTTP_RANGE="bytes=10-", **bearer)

    assert (response.status_code, response["Content-Range"]) == (
        206,
        f"bytes 10-{entry.size_bytes - 1}/{entry.size_bytes}",
    )
    assert b"".join(response.streaming_content) == whole[10:]


def test_resolve_never_sends_xet_headers(client, bearer, version):
    response = client.head(resolve_url("latest", "config.json"), **bearer)

    assert not [name for name in response.headers if "xet" in name.lower()]


def test_missing_file_is_entry_not_found_with_the_commit(client, bearer, version):
    response = client.head(resolve_url("latest", "tokenizer.json"), **bearer)

    assert (response.status_code, response["X-Error-Code"], response["X-Repo-Commit"]) == (
        404,
        "EntryNotFound",
        version.commit,
    )


def test_unknown_repo_is_repo_not_found_on_head_too(client, bearer, version):
    response = client.head(resolve_url("latest", "config.json", repo="acme/other"), **bearer)

    assert (response.status_code, response["X-Error-Code"]) == (404, "RepoNotFound")


def test_unknown_revision_is_revision_not_found(client, bearer, version):
    response = client.head(resolve_url("v42", "config.json"), **bearer)

    assert (response.status_code, response["X-Error-Code"]) == (404, "RevisionNotFound")


def test_unknown_commit_is_revision_not_found(client, bearer, version):
    response = client.head(resolve_url("0" * 40, "config.json"), **bearer)

    assert response["X-Error-Code"] == "RevisionNotFound"


def test_error_body_is_json_with_the_reason(client, bearer, version):
    response = client.get(resolve_url("v42", "config.json"), **bearer)

    assert response.json()["error"] == response["X-Error-Message"]


def test_archived_version_answers_gone(client, bearer, artifact):
    old, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    artifact.keep_last_versions = 1
    artifact.save()
    ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    response = client.head(resolve_url(old.version, "adapter_config.json"), **bearer)

    assert (response.status_code, response["X-Error-Code"]) == (410, "RevisionNotFound")
    assert "archived" in response["X-Error-Message"]


def test_moved_alias_is_seen_by_the_next_request(client, bearer, artifact):
    first, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    second, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    ModelAlias.objects.point(artifact, "production", first)
    client.get(f"/hf/api/models/{REPO}/revision/production", **bearer)
    ModelAlias.objects.point(artifact, "production", second)

    info = client.get(f"/hf/api/models/{REPO}/revision/production", **bearer).json()

    assert info["sha"] == second.commit


# ---- auth and the download guard ----------------------------------------------------------------


def test_no_token_is_401_repo_not_found(client, version):
    response = client.head(resolve_url("latest", "config.json"))

    assert (response.status_code, response["X-Error-Code"]) == (401, "RepoNotFound")


def test_bad_token_is_401_invalid_credentials(client, version):
    response = client.get(f"/hf/api/models/{REPO}", HTTP_AUTHORIZATION="Bearer nope")

    assert (response.status_code, response["X-Error-Message"]) == (401, hub.ERROR_BAD_TOKEN)


def test_api_token_keyword_is_accepted_too(client, version):
    key = Token.objects.create(user=UserFactory()).key

    response = client.get(f"/hf/api/models/{REPO}", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200


def test_session_of_a_logged_in_user_reads(client, version):
    client.force_login(UserFactory())

    assert client.get(f"/hf/api/models/{REPO}").status_code == 200


def test_download_guard_refuses_files_in_production(client, bearer, version, settings):
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = False, False

    response = client.head(resolve_url("latest", "config.json"), **bearer)

    assert (response.status_code, "REGISTRY_DOWNLOADS_ENABLED" in response["X-Error-Message"]) == (
        403,
        True,
    )


def test_download_guard_leaves_metadata_readable(client, bearer, version, settings):
    settings.DEBUG, settings.REGISTRY_DOWNLOADS_ENABLED = False, False

    assert client.get(f"/hf/api/models/{REPO}", **bearer).status_code == 200


def test_agent_harnesses_probe_is_a_404_without_queries(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/hf/api/agent-harnesses")

    assert (response.status_code, len(queries)) == (404, 0)


def test_upload_methods_are_refused_with_headers(client, bearer, version):
    response = client.post(resolve_url("latest", "config.json"), **bearer)

    assert (response.status_code, "X-Error-Message" in response) == (405, True)


# ---- traversal and odd quoting: never foreign bytes, never a 500 --------------------------------

ODD_PATHS = [
    "../config.json",
    "..%2Fconfig.json",
    "%2E%2E/%2E%2E/etc/passwd",
    "subdir/../config.json",
    "/etc/passwd",
    "config.json%00.txt",
    "%00",
    "config.json/",
    "./config.json",
    "%252e%252e%252fconfig.json",
    "a" * 5000,
    "\u00e9t\u00e9.json",
    "%ff%fe",
]
ODD_REPOS = [
    "..",
    "../acme",
    "acme/gemma-sft%00",
    "acme//gemma-sft",
    "acme/gemma--sft",
    "x" * 5000,
    "api/models",
    "%00",
]
ODD_REVISIONS = ["..", "%2E%2E", "main%00", "refs%2Fpr%2F1", "x" * 5000, "%20", "latest%0A"]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_file_paths_never_serve_another_file(client, bearer, version, path):
    response = client.get(resolve_url("latest", path), **bearer)

    assert (response.status_code, response.get("X-Error-Code")) == (404, "EntryNotFound")


@pytest.mark.parametrize("repo", ODD_REPOS)
def test_odd_repo_ids_are_repo_not_found(client, bearer, version, repo):
    for url in (f"/hf/api/models/{repo}", resolve_url("latest", "config.json", repo=repo)):
        response = client.get(url, **bearer)
        assert (response.status_code, response.get("X-Error-Code")) == (404, "RepoNotFound"), url


@pytest.mark.parametrize("revision", ODD_REVISIONS)
def test_odd_revisions_are_revision_not_found(client, bearer, version, revision):
    response = client.get(resolve_url(revision, "config.json"), **bearer)

    assert (response.status_code, response.get("X-Error-Code")) == (404, "RevisionNotFound")


def test_a_file_of_another_model_is_not_served_through_this_one(client, bearer, version):
    other = ModelArtifactFactory(repo_id="acme/other")
    ModelVersion.objects.promote(other, promotable_run(seed=9))

    response = client.get(resolve_url("latest", "adapter_config.json"), **bearer)

    assert response.status_code == 404
