"""Hostile input answers 4xx, never 5xx, on SQLite and PostgreSQL alike.

The walk at the end visits every URL pattern with NUL characters, invalid UTF-8 percent-escapes and
over-long segments in each of its parameters and in the query string; CI runs it on both databases
(PostgreSQL is where a NUL reaching a query becomes a `DataError`, so a 500).
"""

import os
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import TunixRunFactory, UserFactory
from tuning.tests.factories import TuningJobFactory

pytestmark = pytest.mark.django_db

BAD_NAME = os.fsdecode(b"weights-\xff\xfe.bin")


@pytest.fixture
def superuser_client():
    """A logged-in superuser, so every page and admin view is reachable; 500s come back as such."""
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def version(downloads_enabled):
    found, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    return found


# ---- file names that are not UTF-8 ----------------------------------------------------------


def test_run_files_lists_a_name_that_is_not_utf8_escaped_and_flagged(curator_client):
    run = TunixRunFactory(completed=True)
    (Path(run.output_dir) / BAD_NAME).write_bytes(b"1")

    response = curator_client.get(f"/api/runs/{run.id}/files/")

    assert response.status_code == 200
    assert response.json() == [{"path": "weights-\\xff\\xfe.bin", "size": 1, "valid_utf8": False}]


def test_run_page_shows_a_name_that_is_not_utf8_escaped(superuser_client):
    run = TunixRunFactory(completed=True)
    (Path(run.output_dir) / BAD_NAME).write_bytes(b"1")

    response = superuser_client.get(f"/runs/{run.id}/")

    assert response.status_code == 200
    assert "weights-\\xff\\xfe.bin" in response.content.decode()


def test_promoting_a_directory_holding_a_name_that_is_not_utf8_is_refused_naming_it(
    curator_client,
):
    run = promotable_run()
    (Path(run.output_dir) / BAD_NAME).write_bytes(b"1")

    response = curator_client.post(
        f"/api/models/{ModelArtifactFactory().pk}/versions/promote",
        {"source_run_id": str(run.id)},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "unsafe_file_name"
    assert "weights-\\xff\\xfe.bin" in response.json()["detail"]


# ---- NUL characters -------------------------------------------------------------------------


def test_a_nul_in_a_file_path_is_a_400(curator_client, version):
    response = curator_client.get(
        f"/api/models/versions/{version.pk}/files/adapter_config.json%00.txt"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "null_character"


def test_a_nul_in_a_search_parameter_is_a_400(curator_client):
    response = curator_client.get("/api/models?search=gemma%00")

    assert response.status_code == 400
    assert response.json()["code"] == "null_character"


def test_a_nul_in_a_page_search_is_a_plain_400(superuser_client):
    response = superuser_client.get("/registry/?q=gemma%00")

    assert response.status_code == 400


def test_a_nul_in_a_login_form_is_a_400_before_django_axes_records_it():
    response = Client().post("/accounts/login/", {"username": "ro\x00ot", "password": "x"})

    assert response.status_code == 400


def test_a_nul_in_a_session_cookie_is_a_400():
    # A quoted cookie value's octal escape, which Django's cookie parser turns into a NUL.
    response = Client().get("/registry/", HTTP_COOKIE='sessionid="abcdefgh\\000ijk"')

    assert response.status_code == 400


def test_a_nul_in_a_json_body_is_refused_in_the_documented_shape(curator_client, version):
    response = curator_client.post(
        f"/api/models/{version.artifact_id}/versions/promote",
        {"source_run_id": str(version.source_run_id), "version": "v\x002"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "$.version" in response.json()["detail"]


def test_a_nul_nested_in_run_metrics_is_refused(curator_client):
    response = curator_client.post(
        "/api/runs/", {"name": "r", "metrics": {"loss": {"a\x00": 1}}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# ---- one error shape ------------------------------------------------------------------------


def test_a_field_error_has_detail_code_and_the_fields_under_errors(curator_client):
    response = curator_client.post("/api/models", {"name": ""}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "name: This field may not be blank.",
        "code": "invalid",
        "errors": {"name": ["This field may not be blank."]},
    }


def test_a_missing_object_is_404_with_detail_and_code(curator_client):
    response = curator_client.get("/api/models/versions/987654/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"]


def test_an_anonymous_caller_gets_detail_and_code(api_client):
    response = api_client.get("/api/models")

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


# ---- every URL pattern ----------------------------------------------------------------------

HOSTILE_SEGMENTS = {
    "nul": "a%00b",
    "invalid_utf8": "%FF%FE%C0%AF",
    "overlong": "x" * 4000,
    "huge_number": "9" * 40,
}
HOSTILE_QUERY = (
    "?search=%00&q=%00&status=%00&kind=%00&model=%00&metric=%00&page=%00&at=%00&task_type=%00"
)
GROUP = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def url_templates(patterns=None, prefix: str = ""):
    """Yield every URL pattern as a path with `{name}` for each parameter."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        text = prefix + str(pattern.pattern).replace("^", "").replace("$", "")
        if isinstance(pattern, URLResolver):
            yield from url_templates(pattern.url_patterns, text)
        elif isinstance(pattern, URLPattern):
            text = text.replace("/?", "/").replace("\\.", ".")
            yield "/" + GROUP.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", text)


def plausible_values(template: str, *, run, version, job) -> dict:
    """Return a valid value for each parameter, so a hostile one in another reaches the view."""
    if template.startswith(("/api/runs", "/runs")):
        pk = str(run.id)
    elif template.startswith(("/api/models/versions", "/registry/versions")):
        pk = str(version.pk)
    elif template.startswith(("/api/tuning", "/tuning")):
        pk = str(job.pk)
    else:
        pk = str(version.artifact_id)
    return {
        "pk": pk,
        "run_id": str(run.id),
        "version_id": str(version.pk),
        "artifact_id": str(version.artifact_id),
        "job_id": str(job.pk),
        "alias": "latest",
        "repo_id": version.artifact.repo_id,
        "revision": "latest",
        "path": "adapter_config.json",
        "object_id": "1",
        "content_type_id": "1",
        "app_label": "registry",
        "url": "",
        "id": "1",
    }


def test_every_url_pattern_answers_hostile_parameters_without_a_server_error(
    superuser_client, version
):
    run, job = version.source_run, TuningJobFactory()
    failures = []
    templates = sorted(set(url_templates()))
    for template in templates:
        plausible = plausible_values(template, run=run, version=version, job=job)
        names = re.findall(r"{(\w+)}", template)
        urls = [template.format(**plausible) + HOSTILE_QUERY]
        for name in names:
            for hostile in HOSTILE_SEGMENTS.values():
                urls.append(template.format(**{**plausible, name: hostile}))
        for url in urls:
            response = superuser_client.get(url)
            if response.status_code >= 500:
                failures.append(f"GET {url[:120]} -> {response.status_code}")
            if url.startswith("/api/"):
                response = superuser_client.post(
                    url,
                    data='{"name": "a\\u0000", "version": "\\u0000"}',
                    content_type="application/json",
                )
                if response.status_code >= 500:
                    failures.append(f"POST {url[:120]} -> {response.status_code}")
    assert len(templates) > 140  # the walk found the whole URL configuration
    assert failures == []
