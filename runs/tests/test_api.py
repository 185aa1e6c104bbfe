from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from runs.models import TunixRun
from runs.tests.factories import TunixRunFactory, UserFactory, make_output_dir

pytestmark = pytest.mark.django_db


def test_anonymous_user_cannot_list_runs(api_client):
    response = api_client.get("/api/runs/")

    assert response.status_code in (401, 403)


def test_logged_in_user_lists_runs_newest_first(reader_client):
    older = TunixRunFactory()
    newer = TunixRunFactory()

    response = reader_client.get("/api/runs/")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(newer.id), str(older.id)]


def test_list_filters_by_status(reader_client):
    TunixRunFactory(completed=True)
    TunixRunFactory(failed=True)

    response = reader_client.get("/api/runs/?status=failed")

    assert [item["status"] for item in response.json()["results"]] == ["failed"]


def test_list_refuses_an_unknown_status_filter(reader_client):
    response = reader_client.get("/api/runs/?status=exploded")

    assert response.status_code == 400
    assert "Unknown status 'exploded'" in response.json()["errors"]["status"][0]


def test_token_authentication_reads_runs(api_client):
    user = UserFactory()
    token = Token.objects.create(user=user)
    TunixRunFactory()

    response = api_client.get("/api/runs/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_logged_in_user_without_permission_cannot_register_a_run(reader_client):
    response = reader_client.post(
        "/api/runs/", {"name": "r", "output_dir": make_output_dir("r")}, format="json"
    )

    assert response.status_code == 403
    assert TunixRun.objects.count() == 0


def test_permitted_user_registers_a_completed_run(runs_editor_client):
    response = runs_editor_client.post(
        "/api/runs/",
        {
            "name": "sft-1",
            "status": "completed",
            "output_dir": make_output_dir("sft-1"),
            "config": {"learning_rate": 0.001},
            "metrics": {"loss": 0.42},
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    run = TunixRun.objects.get(pk=response.json()["id"])
    assert run.status == "completed"
    assert run.metrics == {"loss": 0.42}


def test_registering_a_relative_output_dir_is_a_field_error(runs_editor_client):
    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "output_dir": "outputs/r"}, format="json"
    )

    assert response.status_code == 400
    assert "must be an absolute path" in response.json()["errors"]["output_dir"][0]


def test_registering_a_missing_output_dir_is_a_field_error(runs_editor_client, runs_root):
    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "output_dir": str(runs_root / "gone")}, format="json"
    )

    assert response.status_code == 400
    assert "does not exist" in response.json()["errors"]["output_dir"][0]


def test_registering_an_unknown_status_is_a_field_error(runs_editor_client):
    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "status": "exploded"}, format="json"
    )

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_metrics_that_are_not_an_object_are_a_field_error(runs_editor_client):
    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "metrics": [1, 2, 3]}, format="json"
    )

    assert response.status_code == 400
    assert "Must be a JSON object" in response.json()["errors"]["metrics"][0]


def test_malformed_json_body_is_a_400(runs_editor_client):
    response = runs_editor_client.generic(
        "POST", "/api/runs/", '{"name": "r",', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_patch_records_progress_under_the_life_cycle(runs_editor_client):
    run = TunixRunFactory(running=True)

    response = runs_editor_client.patch(
        f"/api/runs/{run.id}/",
        {"status": "completed", "metrics": {"loss": 0.1}, "eval_status": "completed"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    run.refresh_from_db()
    assert (run.status, run.metrics, run.eval_status) == ("completed", {"loss": 0.1}, "completed")
    assert run.finished_at is not None


def test_patch_refuses_an_illegal_transition_with_a_field_error(runs_editor_client):
    run = TunixRunFactory(completed=True)

    response = runs_editor_client.patch(
        f"/api/runs/{run.id}/", {"status": "running"}, format="json"
    )

    assert response.status_code == 400
    assert "cannot become running" in response.json()["errors"]["status"][0]
    run.refresh_from_db()
    assert run.status == "completed"


def test_patch_cannot_change_the_name(runs_editor_client):
    run = TunixRunFactory(name="original")

    runs_editor_client.patch(f"/api/runs/{run.id}/", {"name": "renamed"}, format="json")

    run.refresh_from_db()
    assert run.name == "original"


def test_logged_in_user_without_permission_cannot_patch(reader_client):
    run = TunixRunFactory(running=True)

    response = reader_client.patch(f"/api/runs/{run.id}/", {"status": "failed"}, format="json")

    assert response.status_code == 403


def test_put_and_delete_are_not_offered_even_to_a_superuser(api_client):
    api_client.force_authenticate(UserFactory(is_superuser=True))
    run = TunixRunFactory()

    assert api_client.put(f"/api/runs/{run.id}/", {}, format="json").status_code == 405
    assert api_client.delete(f"/api/runs/{run.id}/").status_code == 405


def test_files_lists_the_output_directory(reader_client):
    run = TunixRunFactory(completed=True)
    (Path(run.output_dir) / "config.json").write_text("{}")

    response = reader_client.get(f"/api/runs/{run.id}/files/")

    assert response.status_code == 200
    assert response.json() == [{"path": "config.json", "size": 2, "valid_utf8": True}]


def test_unknown_run_is_a_404(reader_client):
    response = reader_client.get("/api/runs/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404


def test_registering_an_output_dir_outside_the_run_roots_is_refused(runs_editor_client, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "output_dir": str(outside)}, format="json"
    )

    assert response.status_code == 400
    assert "outside the allowed run roots" in response.json()["errors"]["output_dir"][0]


def test_a_symlink_escaping_the_run_roots_is_refused(runs_editor_client, runs_root, tmp_path):
    (runs_root / "sneaky").symlink_to(tmp_path)

    response = runs_editor_client.post(
        "/api/runs/", {"name": "r", "output_dir": str(runs_root / "sneaky")}, format="json"
    )

    assert response.status_code == 400
    assert "outside the allowed run roots" in response.json()["errors"]["output_dir"][0]


def test_patching_output_dir_outside_the_run_roots_is_refused(runs_editor_client, tmp_path):
    run = TunixRunFactory(running=True)

    response = runs_editor_client.patch(
        f"/api/runs/{run.id}/", {"output_dir": str(tmp_path)}, format="json"
    )

    assert response.status_code == 400
    run.refresh_from_db()
    assert run.output_dir != str(tmp_path)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_metrics_with_nan_or_infinity_are_refused(runs_editor_client, constant):
    response = runs_editor_client.generic(
        "POST",
        "/api/runs/",
        '{"name": "r", "metrics": {"loss": ' + constant + "}}",
        content_type="application/json",
    )

    assert response.status_code == 400
    assert TunixRun.objects.count() == 0


def test_an_oversized_body_is_413_with_a_message(runs_editor_client):
    huge = '{"name": "r", "metrics": {"blob": "' + "x" * 20_000_000 + '"}}'

    response = runs_editor_client.generic(
        "POST", "/api/runs/", huge, content_type="application/json"
    )

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
