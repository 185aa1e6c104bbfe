from pathlib import Path

import pytest

from runs.tests.factories import TunixRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in_client(client):
    client.force_login(UserFactory())
    return client


def test_run_list_needs_login(client):
    response = client.get("/runs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_run_list_shows_runs(logged_in_client):
    TunixRunFactory(name="sft-alpha", completed=True)

    response = logged_in_client.get("/runs/")

    assert response.status_code == 200
    assert b"sft-alpha" in response.content
    assert b"<nav" in response.content


def test_run_list_filters_by_status(logged_in_client):
    TunixRunFactory(name="good-run", completed=True)
    TunixRunFactory(name="bad-run", failed=True)

    response = logged_in_client.get("/runs/?status=failed")

    assert b"bad-run" in response.content
    assert b"good-run" not in response.content


def test_htmx_filter_gets_only_the_table(logged_in_client):
    TunixRunFactory(name="good-run", completed=True)

    response = logged_in_client.get("/runs/?status=completed", HTTP_HX_REQUEST="true")

    assert response.content.lstrip().startswith(b'<div id="run-table">')
    assert b'<nav aria-label="Main"' not in response.content


def test_run_detail_shows_config_metrics_and_files(logged_in_client):
    run = TunixRunFactory(completed=True, metrics={"eval_accuracy": 0.71})
    (Path(run.output_dir) / "adapter_config.json").write_text("{}")

    response = logged_in_client.get(f"/runs/{run.id}/")

    assert response.status_code == 200
    assert b"eval_accuracy" in response.content
    assert b"adapter_config.json" in response.content
    assert b"learning_rate" in response.content


def test_run_detail_escapes_html_in_names(logged_in_client):
    run = TunixRunFactory(name="<script>alert(1)</script>")

    response = logged_in_client.get(f"/runs/{run.id}/")

    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content
