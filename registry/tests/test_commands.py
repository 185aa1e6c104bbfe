from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import ModelAlias, ModelArtifact, ModelVersion
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run

pytestmark = pytest.mark.django_db


def call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_promote_run_prints_label_digest_size_and_newness():
    artifact = ModelArtifactFactory(name="Gemma SFT")
    run = promotable_run()

    printed = call("promote_run", str(run.id), "--model", "gemma sft", "--tag", "candidate")

    version = ModelVersion.objects.get()
    assert version.artifact == artifact
    assert version.tags == ["candidate"]
    assert f"Gemma SFT:{version.version}" in printed
    assert f"sha256:{version.sha256}" in printed
    assert f"{version.size_bytes} bytes" in printed
    assert "new     yes" in printed


def test_promote_run_again_says_it_was_not_new():
    run = promotable_run()
    ModelArtifactFactory(name="m")
    call("promote_run", str(run.id), "--model", "m")

    printed = call("promote_run", str(run.id), "--model", "m")

    assert "Already promoted m:v1" in printed
    assert "new     no" in printed


def test_promote_run_creates_the_model_when_asked():
    run = promotable_run()

    call("promote_run", str(run.id), "--model", "Brand New", "--create-model", "--version", "rc1")

    assert ModelVersion.objects.get().artifact.name == "Brand New"
    assert ModelVersion.objects.get().version == "rc1"


def test_promote_run_refuses_an_unknown_model_without_create():
    run = promotable_run()

    with pytest.raises(CommandError) as excinfo:
        call("promote_run", str(run.id), "--model", "nope")

    assert "--create-model" in str(excinfo.value)
    assert not ModelArtifact.objects.exists()


def test_promote_run_refuses_an_unknown_run_in_one_line():
    ModelArtifactFactory(name="m")

    with pytest.raises(CommandError) as excinfo:
        call("promote_run", "not-a-uuid", "--model", "m")

    assert str(excinfo.value) == "No run with id not-a-uuid."


def test_promote_run_shows_the_refusal_and_its_code():
    run = promotable_run()
    run.status = "failed"
    run.save()
    ModelArtifactFactory(name="m")

    with pytest.raises(CommandError) as excinfo:
        call("promote_run", str(run.id), "--model", "m")

    assert "[run_failed]" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_promote_run_with_force_promotes_a_failed_run():
    run = promotable_run()
    run.status = "failed"
    run.save()
    ModelArtifactFactory(name="m")

    call("promote_run", str(run.id), "--model", "m", "--force")

    assert ModelVersion.objects.get().provenance_json["forced"] is True


def test_verify_version_reports_an_intact_version():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())

    printed = call("verify_version", str(version.pk))

    assert f"{version} (2 files): ok" in printed


def test_verify_version_detects_a_tampered_blob_and_exits_non_zero():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    weights = version.files.get(path="adapter_model.safetensors")
    StoredBlob(weights.sha256).write_bytes(b"tampered")
    out = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("verify_version", str(version.pk), stdout=out)

    assert "1 file(s) missing or corrupt" in str(excinfo.value)
    assert "mismatch: adapter_model.safetensors" in out.getvalue()


def test_verify_version_all_covers_every_ready_version_and_reports_missing_blobs():
    artifact = ModelArtifactFactory()
    first, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    second, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    weights = second.files.get(path="adapter_model.safetensors")
    StoredBlob(weights.sha256).unlink()
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_version", "--all", stdout=out)

    assert f"{first} (2 files): ok" in out.getvalue()
    assert "missing: adapter_model.safetensors" in out.getvalue()


def test_verify_version_refuses_an_unknown_id():
    with pytest.raises(CommandError) as excinfo:
        call("verify_version", "999")

    assert "No version with id 999" in str(excinfo.value)


def test_set_alias_points_and_prints_the_move():
    artifact = ModelArtifactFactory(name="Gemma")
    _v1, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    v2, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    call("set_alias", "gemma", "production", "v1")

    printed = call("set_alias", "gemma", "production", "v2", "--reason", "better eval")

    assert printed.strip() == "Gemma@production: v1 -> v2"
    assert ModelAlias.objects.resolve(artifact, "production") == v2


def test_set_alias_reports_an_unmet_gate_in_one_line():
    artifact = ModelArtifactFactory(name="Gemma")
    ModelVersion.objects.promote(artifact, promotable_run(seed=1, metrics={"eval_loss": 0.9}))
    ModelAlias.objects.set_gates(
        artifact, "production", requirements=[{"metric": "eval_loss", "op": "<=", "value": 0.3}]
    )

    with pytest.raises(CommandError) as excinfo:
        call("set_alias", "Gemma", "production", "v1")

    assert "[gate_unmet]" in str(excinfo.value)
    assert "eval_loss is 0.9" in str(excinfo.value)


def test_set_alias_refuses_an_unknown_version():
    ModelArtifactFactory(name="Gemma")

    with pytest.raises(CommandError) as excinfo:
        call("set_alias", "Gemma", "production", "v9")

    assert "has no version 'v9'" in str(excinfo.value)


def test_alias_history_prints_each_change_oldest_first():
    artifact = ModelArtifactFactory(name="Gemma")
    _v1, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    _v2, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    call("set_alias", "Gemma", "production", "v1")
    call("set_alias", "Gemma", "production", "v2", "--reason", "better eval")

    lines = call("alias_history", "Gemma", "production").strip().splitlines()

    assert "set" in lines[0] and "-> v1" in lines[0]
    assert "move" in lines[1] and "v1 -> v2" in lines[1] and "better eval" in lines[1]


def test_alias_history_of_an_unknown_alias_fails():
    ModelArtifactFactory(name="Gemma")

    with pytest.raises(CommandError):
        call("alias_history", "Gemma", "nothing")


def test_load_demo_models_promotes_the_demo_runs_once_and_sets_production():
    first = call("load_demo_models")
    second = call("load_demo_models")

    gemma = ModelArtifact.objects.get_by_name("Gemma3-1B Tunix SFT")
    assert "3 versions promoted" in first
    assert "0 versions promoted" in second
    assert ModelVersion.objects.count() == 3
    production = ModelAlias.objects.resolve(gemma, "production")
    assert production.metrics_json["eval_loss"] == 0.498
