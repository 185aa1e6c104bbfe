import pytest
from django.urls import reverse

from runs.tests.factories import UserFactory
from tuning.tests.factories import TuningJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_shows_the_job_status_but_does_not_let_it_be_edited(admin_client):
    job = TuningJobFactory(status="running", name="search")
    url = reverse("admin:tuning_tuningjob_change", args=[job.pk])

    form = admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        {
            "name": "renamed",
            "status": "completed",
            "trainer": job.trainer,
            "base_config": "{}",
            "search_space": '{"seed": {"type": "grid", "values": [1]}}',
            "metric": "eval_loss",
            "mode": "min",
            "num_samples": "1",
            "max_concurrent_trials": "1",
            "ray_address": "",
            "updated_at": "",
            "trials-TOTAL_FORMS": "0",
            "trials-INITIAL_FORMS": "0",
        },
    )

    assert 'name="status"' not in form
    assert "Running" in form
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.name == "renamed"
    assert job.status == "running"
    assert job.finished_at is None
