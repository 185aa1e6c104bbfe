from pathlib import Path

import pytest

from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory
from tuning.models import TuningJob
from tuning.tests.factories import TuningJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(client, curators_group):
    user = UserFactory()
    user.groups.add(curators_group)
    client.force_login(user)
    return client


def finished_job_with_best_trial():
    job = TuningJobFactory(status="completed")
    for value, seed in ((0.4, 1), (0.2, 2)):
        job.trials.create(
            params={"seed": seed},
            status="completed",
            metric_value=value,
            ray_trial_id=f"t{seed}",
            run=promotable_run(seed=seed),
        )
    job.best_trial = job.trials.get(metric_value=0.2)
    job.save()
    return job


def test_the_jobs_page_renders_empty(curator_client):
    response = curator_client.get("/tuning/")

    assert response.status_code == 200
    assert b"No tuning jobs yet" in response.content


def test_a_new_job_with_a_bad_search_space_shows_errors_beside_the_fields(curator_client):
    response = curator_client.post(
        "/tuning/new",
        {
            "name": "s",
            "trainer": "runs.trainers.lora_demo",
            "base_config": "{}",
            "search_space": '{"rank": {"type": "choice", "values": []}}',
            "metric": "eval_loss",
            "mode": "min",
            "num_samples": 1,
            "max_concurrent_trials": 1,
        },
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<form id="job-form"')
    assert "rank: choice needs a non-empty list of values" in html
    assert not TuningJob.objects.exists()


def test_malformed_json_is_a_field_error(curator_client):
    response = curator_client.post(
        "/tuning/new",
        {
            "name": "s",
            "trainer": "runs.trainers.lora_demo",
            "search_space": "{rank",
            "metric": "eval_loss",
            "mode": "min",
            "num_samples": 1,
            "max_concurrent_trials": 1,
        },
    )

    assert "Not valid JSON" in response.content.decode()


def test_a_valid_new_job_is_created_started_and_opened(curator_client):
    response = curator_client.post(
        "/tuning/new",
        {
            "name": "s",
            "trainer": "runs.trainers.lora_demo",
            "base_config": '{"steps": 50}',
            "search_space": '{"rank": {"type": "grid", "values": [2, 4]}}',
            "metric": "eval_loss",
            "mode": "min",
            "num_samples": 1,
            "max_concurrent_trials": 1,
        },
        HTTP_HX_REQUEST="true",
    )

    job = TuningJob.objects.get()
    assert response["HX-Redirect"] == f"/tuning/{job.pk}/"


def test_a_running_job_page_polls_and_a_finished_one_does_not(curator_client):
    running = TuningJobFactory(status="running")
    finished = finished_job_with_best_trial()

    running_html = curator_client.get(f"/tuning/{running.pk}/").content.decode()
    finished_html = curator_client.get(f"/tuning/{finished.pk}/").content.decode()

    assert 'hx-trigger="every 2s"' in running_html
    assert 'hx-trigger="every 2s"' not in finished_html


def test_the_poll_returns_only_the_trial_panel(curator_client):
    job = TuningJobFactory(status="running")

    response = curator_client.get(
        f"/tuning/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="trial-panel"
    )

    assert response.content.decode().lstrip().startswith('<section id="trial-panel"')


def test_the_job_page_charts_trials_and_highlights_the_best(curator_client):
    job = finished_job_with_best_trial()

    html = curator_client.get(f"/tuning/{job.pk}/").content.decode()

    assert '<svg class="chart"' in html
    assert 'class="best-trial"' in html
    assert "Promote Best Trial" in html


def test_promote_best_trial_from_the_page_opens_the_new_version(curator_client):
    job = finished_job_with_best_trial()
    artifact = ModelArtifactFactory()

    response = curator_client.post(
        f"/tuning/{job.pk}/promote-best", {"artifact": artifact.pk, "version": "", "tags": "tuned"}
    )

    version = ModelVersion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/registry/versions/{version.pk}/"
    assert version.source_run == job.best_trial.run
    assert version.tags == ["tuned"]


def test_promote_best_of_an_unfinished_job_shows_the_refusal(curator_client):
    job = TuningJobFactory(status="running")

    response = curator_client.post(
        f"/tuning/{job.pk}/promote-best", {"artifact": ModelArtifactFactory().pk}
    )

    assert response.status_code == 400
    assert "promote its best trial once it has completed" in response.content.decode()


def test_the_poll_reloads_the_page_once_the_job_has_finished(curator_client):
    job = finished_job_with_best_trial()

    response = curator_client.get(
        f"/tuning/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="trial-panel"
    )

    assert response["HX-Refresh"] == "true"


def test_the_poll_draws_each_trials_loss_curve_while_the_job_runs(curator_client):
    job = TuningJobFactory(status="running")
    for seed, curve in ((1, "[5.0, 4.0, 3.5]"), (2, "[5.0, 4.5]")):
        run = promotable_run(seed=seed)
        (Path(run.output_dir) / "metrics.json").write_text(f'{{"loss_per_step": {curve}}}')
        job.trials.create(params={"seed": seed}, status="running", ray_trial_id=f"t{seed}", run=run)

    html = curator_client.get(
        f"/tuning/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="trial-panel"
    ).content.decode()

    assert "Training loss by step, per trial" in html
    assert html.count('<polyline points="') == 2
    assert "trial 1: last loss 3.5" in html and "trial 2: last loss 4.5" in html


def test_a_running_job_page_refreshes_itself_without_javascript(curator_client):
    running = TuningJobFactory(status="running")

    html = curator_client.get(f"/tuning/{running.pk}/").content.decode()

    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert f'<a href="/tuning/{running.pk}/">refresh</a>' in html
