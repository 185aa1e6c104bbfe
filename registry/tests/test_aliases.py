"""Aliases, their gates and history, and the audit trail, at the manager level."""

import pytest

from registry.exceptions import RegistryError
from registry.models import AliasChange, ModelAlias, ModelVersion, RegistryEvent
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifact():
    return ModelArtifactFactory(name="Gemma SFT")


def promote(artifact, *, seed, metrics=None, eval_status="completed", user=None):
    run = promotable_run(seed=seed, metrics=metrics or {"eval_loss": 0.5})
    run.eval_status = eval_status
    run.save()
    return ModelVersion.objects.promote(artifact, run, user=user)[0]


def test_setting_an_alias_points_it_at_the_version(artifact):
    v1 = promote(artifact, seed=1)

    ModelAlias.objects.point(artifact, "production", v1)

    assert ModelAlias.objects.resolve(artifact, "production") == v1


def test_moving_an_alias_records_from_and_to(artifact):
    v1, v2 = promote(artifact, seed=1), promote(artifact, seed=2)
    curator = UserFactory(username="ada")
    ModelAlias.objects.point(artifact, "production", v1, user=curator)

    ModelAlias.objects.point(artifact, "production", v2, user=curator, reason="better eval")

    kinds = list(AliasChange.objects.order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["set", "move"]
    move = AliasChange.objects.get(kind="move")
    assert (move.from_version, move.to_version, move.actor_name, move.reason) == (
        v1,
        v2,
        "ada",
        "better eval",
    )


def test_pointing_at_the_same_version_again_records_nothing(artifact):
    v1 = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", v1)

    ModelAlias.objects.point(artifact, "production", v1)

    assert AliasChange.objects.count() == 1


def test_removing_an_alias_unsets_it_and_is_recorded(artifact):
    v1 = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "staging", v1)

    ModelAlias.objects.remove(artifact, "staging", reason="retired")

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.resolve(artifact, "staging")
    assert excinfo.value.code == "alias_not_found"
    assert AliasChange.objects.filter(kind="remove", from_version=v1, to_version=None).exists()


def test_removing_an_unset_alias_is_refused(artifact):
    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.remove(artifact, "nothing")

    assert excinfo.value.code == "alias_not_found"


def test_latest_resolves_to_the_newest_ready_version(artifact):
    promote(artifact, seed=1)
    v2 = promote(artifact, seed=2)

    assert ModelAlias.objects.resolve(artifact, "latest") == v2


@pytest.mark.parametrize("name", ["latest", "../prod", "a/b", "", "x" * 65])
def test_reserved_or_path_like_alias_names_are_refused(artifact, name):
    v1 = promote(artifact, seed=1)

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.point(artifact, name, v1)

    assert excinfo.value.code == "invalid_alias"


def test_an_alias_cannot_point_at_another_models_version(artifact):
    other = promote(ModelArtifactFactory(), seed=1)

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.point(artifact, "production", other)

    assert excinfo.value.code == "wrong_model"


def test_a_gate_refuses_naming_each_unmet_requirement_and_the_values(artifact):
    weak = promote(
        artifact, seed=1, metrics={"eval_loss": 0.45, "eval_accuracy": 0.61}, eval_status="pending"
    )
    ModelAlias.objects.set_gates(
        artifact,
        "production",
        requirements=[
            {"metric": "eval_loss", "op": "<=", "value": 0.3},
            {"metric": "eval_accuracy", "op": ">=", "value": 0.7},
        ],
        requires_completed_eval=True,
    )

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.point(artifact, "production", weak)

    message = excinfo.value.message
    assert excinfo.value.code == "gate_unmet"
    assert "eval_loss <= 0.3 (the version's eval_loss is 0.45)" in message
    assert "eval_accuracy >= 0.7 (the version's eval_accuracy is 0.61)" in message
    assert "completed evaluation (the source run's evaluation is pending)" in message
    assert ModelAlias.objects.get(name="production").version is None


def test_a_gate_passes_a_version_that_meets_it(artifact):
    strong = promote(artifact, seed=2, metrics={"eval_loss": 0.25, "eval_accuracy": 0.75})
    ModelAlias.objects.set_gates(
        artifact, "production", requirements=[{"metric": "eval_loss", "op": "<=", "value": 0.3}]
    )

    ModelAlias.objects.point(artifact, "production", strong)

    assert ModelAlias.objects.resolve(artifact, "production") == strong


def test_a_missing_metric_fails_its_gate(artifact):
    version = promote(artifact, seed=1, metrics={"loss": 0.1})
    ModelAlias.objects.set_gates(
        artifact, "production", requirements=[{"metric": "eval_loss", "op": "<=", "value": 0.3}]
    )

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.point(artifact, "production", version)

    assert "the version has no eval_loss" in excinfo.value.message


@pytest.mark.parametrize(
    "requirement",
    [{"metric": "x", "op": "~", "value": 1}, {"metric": "", "op": "<=", "value": 1}, {"op": "<="}],
)
def test_malformed_gates_are_refused(artifact, requirement):
    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.set_gates(artifact, "production", requirements=[requirement])

    assert excinfo.value.code == "invalid_gate"


def test_changing_a_gate_is_recorded_in_history_and_events(artifact):
    ModelAlias.objects.set_gates(
        artifact,
        "production",
        requirements=[{"metric": "eval_loss", "op": "<=", "value": 0.3}],
        reason="launch bar",
    )

    change = AliasChange.objects.get(kind="gate_change")
    assert change.details["after"]["requirements"] == [
        {"metric": "eval_loss", "op": "<=", "value": 0.3}
    ]
    assert change.reason == "launch bar"
    assert RegistryEvent.objects.filter(kind="gate_change").count() == 1


def test_every_kind_of_change_is_an_event(artifact):
    user = UserFactory()
    v1 = promote(artifact, seed=1, user=user)
    ModelVersion.objects.promote(artifact, v1.source_run, user=user)  # idempotent repeat
    v1.set_tags(["candidate"], user=user)
    v1.verify(user=user)
    ModelAlias.objects.set_gates(
        artifact, "production", requirements=[{"metric": "eval_loss", "op": "<=", "value": 1}]
    )
    ModelAlias.objects.point(artifact, "production", v1, user=user)

    kinds = sorted(RegistryEvent.objects.values_list("kind", flat=True))
    assert kinds == [
        "alias_move",
        "gate_change",
        "promotion",
        "promotion",
        "tag_change",
        "verification",
    ]
    repeat = RegistryEvent.objects.filter(kind="promotion", details__created=False).get()
    assert repeat.actor == user
    verification = RegistryEvent.objects.get(kind="verification")
    assert verification.details["ok"] is True


def test_events_cannot_be_edited_or_deleted(artifact):
    promote(artifact, seed=1)
    event = RegistryEvent.objects.get()

    event.details = {"forged": True}
    with pytest.raises(RegistryError):
        event.save()
    with pytest.raises(RegistryError):
        event.delete()
    with pytest.raises(RegistryError):
        RegistryEvent.objects.update(details={})
    with pytest.raises(RegistryError):
        RegistryEvent.objects.all().delete()

    assert RegistryEvent.objects.get().details != {"forged": True}


def test_alias_history_cannot_be_edited(artifact):
    ModelAlias.objects.point(artifact, "production", promote(artifact, seed=1))

    with pytest.raises(RegistryError):
        AliasChange.objects.update(reason="rewritten")
    with pytest.raises(RegistryError):
        AliasChange.objects.get().delete()


def test_search_filters_and_sorts_by_a_metric(artifact):
    other = ModelArtifactFactory(name="Other")
    a = promote(artifact, seed=1, metrics={"eval_loss": 0.2})
    promote(artifact, seed=2, metrics={"eval_loss": 0.4})
    c = promote(artifact, seed=3, metrics={"eval_loss": 0.1})
    promote(artifact, seed=4, metrics={"eval_loss": "n/a"})
    promote(other, seed=5, metrics={"eval_loss": 0.05})

    found = ModelVersion.objects.search(
        model="gemma sft", metric="eval_loss", lte=0.3, order="metric"
    )

    assert [(v.pk, v.metric_value) for v in found] == [(c.pk, 0.1), (a.pk, 0.2)]
