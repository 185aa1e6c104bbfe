import pytest
from django.urls import reverse

from runs.models import TunixRun
from runs.tests.factories import TunixRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_refuses_an_output_dir_outside_the_run_roots(admin_client, tmp_path):
    response = admin_client.post(
        reverse("admin:runs_tunixrun_add"),
        {
            "name": "outside",
            "status": "completed",
            "config": "{}",
            "metrics": "{}",
            "eval_status": "none",
            "output_dir": str(tmp_path),
            "created_at_0": "2026-11-24",
            "created_at_1": "08:00:00",
        },
    )

    assert response.status_code == 200
    assert "outside the allowed run roots" in response.content.decode()
    assert not TunixRun.objects.exists()


def test_the_admin_escapes_html_in_run_names(admin_client):
    TunixRunFactory(name="<script>alert(1)</script>")

    html = admin_client.get(reverse("admin:runs_tunixrun_changelist")).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_admin_shows_the_run_status_but_does_not_let_it_be_edited(admin_client):
    run = TunixRunFactory(status="running", name="live")
    url = reverse("admin:runs_tunixrun_change", args=[run.pk])

    form = admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        {
            "name": "renamed",
            "status": "completed",
            "config": "{}",
            "metrics": "{}",
            "eval_status": "none",
            "output_dir": "",
            "created_at_0": "2026-11-24",
            "created_at_1": "08:00:00",
        },
    )

    assert 'name="status"' not in form
    assert "Running" in form
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.name == "renamed"
    assert run.status == "running"
    assert run.finished_at is None
