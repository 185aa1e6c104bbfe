import pytest

from registry.tests.factories import ModelArtifactFactory
from runs.tests.factories import UserFactory
from tuning.models import TuningJob
from tuning.tests.factories import SPACE, TuningJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(api_client, curators_group):
    user = UserFactory()
    user.groups.add(curators_group)
    api_client.force_authenticate(user)
    return api_client


def create(client, **overrides):
    body = {
        "name": "search",
        "trainer": "runs.trainers.lora_demo",
        "search_space": SPACE,
        "base_config": {"steps": 50},
        "start": False,
        **overrides,
    }
    return client.post("/api/tuning/jobs/", body, format="json")


def test_creating_a_job_needs_permission(api_client):
    api_client.force_authenticate(UserFactory())

    assert create(api_client).status_code == 403


def test_a_curator_creates_a_pending_job(curator_client):
    response = create(curator_client)

    assert response.status_code == 201, response.json()
    job = TuningJob.objects.get()
    assert (job.status, job.metric, job.mode) == ("pending", "eval_loss", "min")
    assert job.base_config["steps"] == 50


def test_creating_and_starting_queues_the_job(curator_client):
    from django_tasks_db.models import DBTaskResult

    response = create(curator_client, start=True)

    assert response.status_code == 201
    assert DBTaskResult.objects.filter(task_path="tuning.tasks.execute_job").count() == 1


def test_invalid_fields_are_reported_one_by_one(curator_client):
    response = create(
        curator_client,
        trainer="os.system",
        search_space={"rank": {"type": "choice", "values": []}},
        mode="sideways",
        num_samples=0,
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "trainer",
        "search_space.rank",
        "mode",
        "num_samples",
    }
    assert not TuningJob.objects.exists()


def test_jobs_list_with_trial_counts(curator_client):
    TuningJobFactory(name="a")

    results = curator_client.get("/api/tuning/jobs/").json()["results"]

    assert results[0]["name"] == "a"
    assert results[0]["trials_total"] == 0


def test_cancelling_a_pending_job(curator_client):
    job = TuningJobFactory()

    response = curator_client.post(f"/api/tuning/jobs/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancelling_a_finished_job_is_refused(curator_client):
    job = TuningJobFactory(status="completed")

    response = curator_client.post(f"/api/tuning/jobs/{job.pk}/cancel")

    assert response.status_code == 400
    assert response.json()["code"] == "illegal_transition"


def test_promote_best_of_an_unfinished_job_is_refused(curator_client):
    job = TuningJobFactory(status="running")

    response = curator_client.post(
        f"/api/tuning/jobs/{job.pk}/promote-best",
        {"artifact_id": ModelArtifactFactory().pk},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "job_not_finished"


def test_promote_best_into_an_unknown_model_is_404(curator_client):
    job = TuningJobFactory(status="completed")

    response = curator_client.post(
        f"/api/tuning/jobs/{job.pk}/promote-best", {"artifact_id": 999999}, format="json"
    )

    assert response.status_code == 404


def test_trials_of_a_job_are_listed(curator_client):
    job = TuningJobFactory()
    job.trials.create(params={"rank": 4}, ray_trial_id="t1", status="completed", metric_value=0.3)

    results = curator_client.get(f"/api/tuning/jobs/{job.pk}/trials/").json()["results"]

    assert results == [
        {
            "id": results[0]["id"],
            "ray_trial_id": "t1",
            "params": {"rank": 4},
            "status": "completed",
            "metric_value": 0.3,
            "run": None,
            "run_name": None,
            "created_at": results[0]["created_at"],
        }
    ]


def test_a_ray_client_address_is_refused_with_400(curator_client):
    response = create(curator_client, ray_address="ray://head:10001")

    assert response.status_code == 400
    assert response.json()["code"] == "ray_client_refused"
    assert "ray_address" in response.json()["errors"]
    assert not TuningJob.objects.exists()
