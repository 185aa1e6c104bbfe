from pathlib import Path

import pytest

from runs.models import TunixRun
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

    response = logged_in_client.get(
        "/runs/?status=completed", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-table"
    )

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


@pytest.fixture
def launcher_client(client):
    client.force_login(UserFactory(permissions=["runs.add_tunixrun"]))
    return client


def test_launching_from_the_page_opens_the_run(launcher_client):
    response = launcher_client.post(
        "/runs/launch",
        {"name": "lora", "trainer": "runs.trainers.lora_demo", "config": '{"steps": 20}'},
    )

    run = TunixRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.pk}/"
    assert run.status == "pending"


def test_a_bad_launch_config_is_shown_beside_the_field(launcher_client):
    response = launcher_client.post(
        "/runs/launch",
        {"name": "lora", "trainer": "runs.trainers.lora_demo", "config": '{"rank": 0}'},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<form id="launch-form"')
    assert "rank: must be between 1 and 64" in html
    assert not TunixRun.objects.exists()


def test_launching_needs_permission(logged_in_client):
    response = logged_in_client.post("/runs/launch", {"name": "x"})

    assert response.status_code == 403


def test_a_running_run_page_polls_its_log_and_a_finished_one_does_not(logged_in_client):
    running = TunixRunFactory(running=True)
    (Path(running.output_dir) / "run.log").write_text("step 1 loss 0.9\nstep 2 loss 0.8\n")
    done = TunixRunFactory(completed=True)

    running_html = logged_in_client.get(f"/runs/{running.id}/").content.decode()
    done_html = logged_in_client.get(f"/runs/{done.id}/").content.decode()

    assert 'hx-trigger="every 2s"' in running_html
    assert "step 2 loss 0.8" in running_html
    assert 'hx-trigger="every 2s"' not in done_html


def test_the_poll_returns_only_the_live_section(logged_in_client):
    run = TunixRunFactory(running=True)

    response = logged_in_client.get(
        f"/runs/{run.id}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-live"
    )

    assert response.content.decode().lstrip().startswith('<section id="run-live"')


def test_the_run_page_draws_the_loss_curve(logged_in_client):
    run = TunixRunFactory(completed=True)
    (Path(run.output_dir) / "metrics.json").write_text('{"loss_per_step": [0.9, 0.5, 0.3]}')

    html = logged_in_client.get(f"/runs/{run.id}/").content.decode()

    assert '<svg class="chart"' in html
    assert "Loss by step" in html


def test_the_live_poll_carries_the_loss_curve_and_never_walks_the_output_files(logged_in_client):
    run = TunixRunFactory(running=True)
    (Path(run.output_dir) / "metrics.json").write_text('{"loss_per_step": [0.9, 0.5]}')
    (Path(run.output_dir) / "checkpoints-file.bin").write_bytes(b"x")

    html = logged_in_client.get(
        f"/runs/{run.id}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-live"
    ).content.decode()

    assert "Loss by step" in html
    assert "checkpoints-file.bin" not in html


def test_the_launch_form_starts_from_the_tiny_tunix_preset_once_the_demo_inputs_exist(
    launcher_client, settings
):
    from runs.demo import write_tunix_demo_inputs

    base, dataset, _ = write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])

    html = launcher_client.get("/runs/").content.decode()

    assert "Tunix LoRA SFT on the tiny demo model" in html
    assert 'value="runs.trainers.tunix_lora_sft" selected' in html
    assert str(base) in html and str(dataset) in html


def test_a_preset_link_fills_the_form_with_that_preset(launcher_client, settings):
    from runs.demo import write_tunix_demo_inputs

    write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])

    html = launcher_client.get("/runs/?preset=lora-demo").content.decode()

    assert 'value="runs.trainers.lora_demo" selected' in html
    assert "&quot;steps&quot;: 300" in html


def test_without_the_demo_inputs_the_tunix_preset_is_not_offered(launcher_client):
    html = launcher_client.get("/runs/").content.decode()

    assert "tiny demo model" not in html
    assert 'value="runs.trainers.lora_demo" selected' in html


def test_metrics_that_are_curves_are_not_listed_as_values(logged_in_client):
    run = TunixRunFactory(completed=True, metrics={"loss": 0.5, "loss_per_step": [0.9, 0.5]})

    html = logged_in_client.get(f"/runs/{run.id}/").content.decode()

    assert "<td>loss</td>" in html
    assert "<td>loss_per_step</td>" not in html
    assert "Loss by step" in html


def test_the_poll_reloads_the_page_once_the_run_has_finished(logged_in_client):
    run = TunixRunFactory(completed=True)

    response = logged_in_client.get(
        f"/runs/{run.id}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-live"
    )

    assert response["HX-Refresh"] == "true"


def test_the_run_list_shows_the_headline_metrics_rounded(logged_in_client):
    TunixRunFactory(
        completed=True,
        metrics={"loss": 2.946767568, "eval_loss": 2.9227, "step_seconds": 0.0131, "steps": 40},
    )

    html = logged_in_client.get("/runs/").content.decode()

    assert "loss=2.9468, eval_loss=2.9227" in html
    assert "step_seconds" not in html


def test_a_completed_run_offers_the_registrys_promote_action_to_curators(client, curators_group):
    user = UserFactory()
    user.groups.add(curators_group)
    client.force_login(user)
    run = TunixRunFactory(completed=True)
    running = TunixRunFactory(running=True)

    html = client.get(f"/runs/{run.id}/").content.decode()

    assert f'<a href="/registry/promote?run={run.id}">Promote this run</a>' in html
    assert "/admin/" not in html.split("<main", 1)[1]
    assert "Promote this run" not in client.get(f"/runs/{running.id}/").content.decode()


def test_readers_are_not_offered_the_promote_action(logged_in_client):
    run = TunixRunFactory(completed=True)

    assert "Promote this run" not in logged_in_client.get(f"/runs/{run.id}/").content.decode()


def test_a_running_run_page_refreshes_itself_without_javascript(logged_in_client):
    running = TunixRunFactory(running=True)
    done = TunixRunFactory(completed=True)

    running_html = logged_in_client.get(f"/runs/{running.id}/").content.decode()
    done_html = logged_in_client.get(f"/runs/{done.id}/").content.decode()

    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in running_html
    assert f'<a href="/runs/{running.id}/">refresh</a>' in running_html
    assert 'http-equiv="refresh"' not in done_html


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"
