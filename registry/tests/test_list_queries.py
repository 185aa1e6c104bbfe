"""The list endpoints answer in a constant number of SQL queries, however much they list."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import ModelArtifact, ModelVersion, VersionMetric
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URLS = [
    "/api/models",
    "/api/models?page=2",
    "/api/models/versions",
    "/api/models/versions?metric=eval_loss&order=metric",
    "/api/models/versions?metric=eval_loss&lte=0.5&order=-metric",
]


def add_models(
    count: int, *, start: int = 0, versions_each: int = 3, status: str = "ready"
) -> None:
    artifacts = ModelArtifact.objects.bulk_create(
        ModelArtifact(name=f"model-{i:04d}", repo_id=f"model-{i:04d}", task_type="causal-lm")
        for i in range(start, start + count)
    )
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(
            artifact=artifact,
            version=f"v{n}",
            status=status,
            sha256=uuid.uuid4().hex * 2,
            commit=uuid.uuid4().hex + uuid.uuid4().hex[:8],
            size_bytes=n,
            file_count=1,
            metrics_json={"eval_loss": 1 / n},
        )
        for artifact in artifacts
        for n in range(1, versions_each + 1)
    )
    VersionMetric.objects.bulk_create(
        VersionMetric(version=v, key="eval_loss", value=v.metrics_json["eval_loss"])
        for v in versions
    )


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.parametrize("url", URLS)
def test_a_list_takes_as_many_queries_for_a_hundred_models_as_for_a_few(api_client, url):
    api_client.force_login(UserFactory())
    add_models(55)  # two pages
    api_client.get(url)  # the session and user once loaded, as every later request finds them
    few = queries(api_client, url)

    add_models(120, start=55, versions_each=4)
    many = queries(api_client, url)

    assert many == few


def test_the_model_list_counts_ready_versions_and_names_the_latest(api_client):
    api_client.force_login(UserFactory())
    add_models(2, versions_each=3)
    add_models(1, start=2, versions_each=2, status="failed")

    listed = {m["name"]: m for m in api_client.get("/api/models").json()["results"]}

    assert listed["model-0000"]["version_count"] == 3
    assert listed["model-0002"]["version_count"] == 0
    assert listed["model-0002"]["latest_version"] is None
    assert listed["model-0001"]["latest_version"]["version"] in {"v1", "v2", "v3"}
    assert set(listed["model-0001"]["latest_version"]) == {
        "id",
        "version",
        "sha256",
        "size_bytes",
        "created_at",
    }
