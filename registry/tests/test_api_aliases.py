"""Aliases, history, events and metric search through the API."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import AliasChange, ModelAlias, ModelVersion, RegistryEvent
from registry.tests.factories import ModelArtifactFactory, promotable_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifact():
    return ModelArtifactFactory(name="Gemma SFT")


def promote(artifact, *, seed, metrics=None):
    return ModelVersion.objects.promote(
        artifact, promotable_run(seed=seed, metrics=metrics or {"eval_loss": 0.5})
    )[0]


def put_alias(client, artifact, name, version, **extra):
    return client.put(
        f"/api/models/{artifact.pk}/aliases/{name}",
        {"version_id": version.pk, **extra},
        format="json",
    )


def test_curators_set_an_alias(curator_client, artifact):
    v1 = promote(artifact, seed=1)

    response = put_alias(curator_client, artifact, "production", v1, reason="launch")

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == "v1"
    assert AliasChange.objects.get().actor_name == "curator"


def test_users_without_move_alias_cannot_set_or_remove(reader_client, artifact):
    v1 = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", v1)

    assert put_alias(reader_client, artifact, "production", v1).status_code == 403
    assert reader_client.delete(f"/api/models/{artifact.pk}/aliases/production").status_code == 403
    assert reader_client.get(f"/api/models/{artifact.pk}/aliases/production").status_code == 200


def test_a_token_curator_moves_an_alias(curator_token_client, artifact):
    v1, v2 = promote(artifact, seed=1), promote(artifact, seed=2)
    put_alias(curator_token_client, artifact, "production", v1)

    response = put_alias(curator_token_client, artifact, "production", v2)

    assert response.json()["version"] == "v2"


def test_resolving_an_alias_returns_the_version(reader_client, artifact):
    v1 = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", v1)

    response = reader_client.get(f"/api/models/{artifact.pk}/aliases/production")

    assert response.json()["id"] == v1.pk
    assert response.json()["sha256"] == v1.sha256


def test_latest_resolves_without_being_set(reader_client, artifact):
    promote(artifact, seed=1)
    v2 = promote(artifact, seed=2)

    assert reader_client.get(f"/api/models/{artifact.pk}/aliases/latest").json()["id"] == v2.pk


def test_latest_cannot_be_set(curator_client, artifact):
    response = put_alias(curator_client, artifact, "latest", promote(artifact, seed=1))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_alias"


def test_an_unknown_alias_is_404(reader_client, artifact):
    response = reader_client.get(f"/api/models/{artifact.pk}/aliases/nope")

    assert response.status_code == 404
    assert response.json()["code"] == "alias_not_found"


def test_removing_an_alias(curator_client, artifact):
    ModelAlias.objects.point(artifact, "staging", promote(artifact, seed=1))

    response = curator_client.delete(
        f"/api/models/{artifact.pk}/aliases/staging", {"reason": "done"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["version"] is None
    assert reader_404(curator_client, artifact, "staging")


def reader_404(client, artifact, name) -> bool:
    return client.get(f"/api/models/{artifact.pk}/aliases/{name}").status_code == 404


def test_a_gate_refuses_then_passes(curator_client, artifact):
    weak = promote(artifact, seed=1, metrics={"eval_loss": 0.45})
    strong = promote(artifact, seed=2, metrics={"eval_loss": 0.2})
    gates = curator_client.put(
        f"/api/models/{artifact.pk}/aliases/production/gates",
        {"requirements": [{"metric": "eval_loss", "op": "<=", "value": 0.3}]},
        format="json",
    )
    assert gates.status_code == 200, gates.json()

    refused = put_alias(curator_client, artifact, "production", weak)
    passed = put_alias(curator_client, artifact, "production", strong)

    assert refused.status_code == 400
    assert refused.json()["code"] == "gate_unmet"
    assert "eval_loss <= 0.3 (the version's eval_loss is 0.45)" in refused.json()["detail"]
    assert passed.status_code == 200


def test_a_gate_refusal_lists_each_unmet_requirement_under_errors(curator_client, artifact):
    weak = promote(artifact, seed=1, metrics={"eval_loss": 0.45, "accuracy": 0.5})
    curator_client.put(
        f"/api/models/{artifact.pk}/aliases/production/gates",
        {
            "requirements": [
                {"metric": "eval_loss", "op": "<=", "value": 0.3},
                {"metric": "accuracy", "op": ">=", "value": 0.9},
            ]
        },
        format="json",
    )

    refused = put_alias(curator_client, artifact, "production", weak)

    assert refused.json()["errors"]["unmet"] == [
        "eval_loss <= 0.3 (the version's eval_loss is 0.45)",
        "accuracy >= 0.9 (the version's accuracy is 0.5)",
    ]


def test_changing_gates_needs_its_permission(reader_client, artifact):
    response = reader_client.put(
        f"/api/models/{artifact.pk}/aliases/production/gates", {"requirements": []}, format="json"
    )

    assert response.status_code == 403


def test_history_at_a_moment_answers_in_one_call(reader_client, artifact):
    v1, v2 = promote(artifact, seed=1), promote(artifact, seed=2)
    march_1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    march_5 = datetime(2026, 3, 5, 9, tzinfo=UTC)
    AliasChange.objects.create(
        artifact=artifact, alias="production", kind="set", to_version=v1, at=march_1
    )
    AliasChange.objects.create(
        artifact=artifact,
        alias="production",
        kind="move",
        from_version=v1,
        to_version=v2,
        at=march_5,
    )
    url = f"/api/models/{artifact.pk}/aliases/production/history"

    before = reader_client.get(url, {"at": "2026-02-28T12:00:00Z"}).json()
    during = reader_client.get(url, {"at": "2026-03-03T12:00:00Z"}).json()
    after = reader_client.get(url, {"at": "2026-03-06T00:00:00+00:00"}).json()

    assert before["version"] is None
    assert during["version"]["version"] == "v1"
    assert after["version"]["version"] == "v2"
    assert during["change"]["kind"] == "set"


def test_history_lists_every_change_newest_first(reader_client, artifact):
    v1, v2 = promote(artifact, seed=1), promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", v1)
    ModelAlias.objects.point(artifact, "production", v2, reason="better")
    ModelAlias.objects.remove(artifact, "production")

    results = reader_client.get(f"/api/models/{artifact.pk}/aliases/production/history").json()[
        "results"
    ]

    assert [r["kind"] for r in results] == ["remove", "move", "set"]
    assert results[1]["from_version"] == "v1" and results[1]["to_version"] == "v2"


def test_history_with_a_malformed_moment_is_400(reader_client, artifact):
    response = reader_client.get(
        f"/api/models/{artifact.pk}/aliases/production/history", {"at": "yesterday"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_at"


def test_models_are_addressed_by_name(reader_client, curator_client, artifact):
    v1 = promote(artifact, seed=1)

    detail = reader_client.get("/api/models/by-name/gemma%20sft")
    put = put_alias(curator_client, type("A", (), {"pk": "by-name/Gemma SFT"})(), "prod", v1)
    resolved = reader_client.get("/api/models/by-name/Gemma%20SFT/aliases/prod")

    assert detail.json()["id"] == artifact.pk
    assert put.status_code == 200
    assert resolved.json()["id"] == v1.pk


def test_an_unknown_model_name_is_404(reader_client):
    response = reader_client.get("/api/models/by-name/nope")

    assert response.status_code == 404


def test_model_detail_lists_aliases(reader_client, artifact):
    ModelAlias.objects.point(artifact, "production", promote(artifact, seed=1))

    aliases = reader_client.get(f"/api/models/{artifact.pk}").json()["aliases"]

    assert aliases[0]["name"] == "production"
    assert aliases[0]["version"] == "v1"


def test_alias_download_serves_the_aliased_version(reader_client, artifact, downloads_enabled):
    v1 = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", v1)

    response = reader_client.get(f"/api/models/{artifact.pk}/aliases/production/download")

    assert response.status_code == 200
    assert response["ETag"] == f'W/"{v1.sha256}"'


def test_events_are_listed_newest_first_and_filtered_by_kind(curator_client, artifact):
    v1 = promote(artifact, seed=1)
    curator_client.patch(f"/api/models/versions/{v1.pk}", {"tags": ["rc"]}, format="json")
    curator_client.post(f"/api/models/versions/{v1.pk}/verify")

    everything = curator_client.get(f"/api/models/{artifact.pk}/events").json()["results"]
    tags = curator_client.get(f"/api/models/{artifact.pk}/events?kind=tag_change").json()

    assert [e["kind"] for e in everything] == ["verification", "tag_change", "promotion"]
    assert [e["kind"] for e in tags["results"]] == ["tag_change"]
    assert tags["results"][0]["actor_name"] == "curator"
    assert tags["results"][0]["details"] == {"before": [], "after": ["rc"]}


def test_an_unknown_event_kind_is_400(reader_client, artifact):
    response = reader_client.get(f"/api/models/{artifact.pk}/events?kind=nope")

    assert response.status_code == 400


def test_the_api_cannot_edit_or_delete_events(curator_client, artifact):
    promote(artifact, seed=1)
    event = RegistryEvent.objects.get()
    url = f"/api/models/{artifact.pk}/events"

    assert curator_client.delete(url).status_code == 405
    assert curator_client.post(url, {}, format="json").status_code == 405
    assert curator_client.patch(f"{url}/{event.pk}", {}, format="json").status_code == 404


# ---- search by metrics ------------------------------------------------------------------------


@pytest.fixture
def versions_with_losses(artifact):
    other = ModelArtifactFactory(name="Other")
    return {
        "a": promote(artifact, seed=1, metrics={"eval_loss": 0.2}),
        "b": promote(artifact, seed=2, metrics={"eval_loss": 0.4}),
        "c": promote(artifact, seed=3, metrics={"eval_loss": 0.1}),
        "d": promote(artifact, seed=4, metrics={"accuracy": 0.9}),
        "o": promote(other, seed=5, metrics={"eval_loss": 0.05}),
    }


def test_search_within_a_model_by_metric(reader_client, versions_with_losses):
    response = reader_client.get(
        "/api/models/versions",
        {"model": "Gemma SFT", "metric": "eval_loss", "lte": 0.3, "order": "metric"},
    )

    results = response.json()["results"]
    assert [(r["id"], r["metric_value"]) for r in results] == [
        (versions_with_losses["c"].pk, 0.1),
        (versions_with_losses["a"].pk, 0.2),
    ]


def test_search_across_models_descending(reader_client, versions_with_losses):
    results = reader_client.get(
        "/api/models/versions", {"metric": "eval_loss", "gte": 0.05, "order": "-metric"}
    ).json()["results"]

    assert [r["metric_value"] for r in results] == [0.4, 0.2, 0.1, 0.05]
    assert results[-1]["artifact_name"] == "Other"


def test_search_refuses_a_non_numeric_bound(reader_client):
    response = reader_client.get("/api/models/versions", {"metric": "eval_loss", "lte": "low"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_search"


def test_search_refuses_ordering_without_a_metric(reader_client):
    response = reader_client.get("/api/models/versions", {"order": "metric"})

    assert response.status_code == 400


@pytest.mark.parametrize("count", [2, 10])
def test_search_uses_a_constant_number_of_queries(reader_client, artifact, count):
    for seed in range(count):
        promote(artifact, seed=seed, metrics={"eval_loss": seed / 10})

    with CaptureQueriesContext(connection) as queries:
        response = reader_client.get("/api/models/versions", {"metric": "eval_loss", "lte": 5})

    assert len(response.json()["results"]) == count
    assert len(queries) == 4, [q["sql"] for q in queries]


@pytest.mark.parametrize("bound", ["nan", "inf"])
def test_search_refuses_a_bound_that_is_not_finite(reader_client, bound):
    response = reader_client.get("/api/models/versions", {"metric": "eval_loss", "gte": bound})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_search"
