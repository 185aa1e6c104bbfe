"""Promotion, the manager method every entry point calls."""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from registry.exceptions import PromotionError, RegistryError, VersionImmutableError
from registry.models import ModelFile, ModelVersion
from registry.storage import BlobStore
from registry.stores import blob_store
from registry.tests.blobs import StoredBlob, stored_digests
from registry.tests.factories import ModelArtifactFactory, promotable_run, write_full, write_lora
from registry.tests.test_storage import sha256sum_pipeline
from runs.tests.factories import TunixRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def blob_count() -> int:
    return len(stored_digests())


def test_promoting_a_lora_adapter_makes_a_ready_version():
    artifact = ModelArtifactFactory()
    run = promotable_run(layout="lora", metrics={"eval_loss": 0.3})

    version, created = ModelVersion.objects.promote(artifact, run)

    assert created
    assert (version.status, version.version, version.layout) == ("ready", "v1", "lora_adapter")
    assert sorted(f.path for f in version.files.all()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert version.metrics_json == {"eval_loss": 0.3}
    assert version.file_count == 2
    assert version.size_bytes == sum(f.size_bytes for f in version.files.all())


def test_promoting_a_full_model_makes_a_ready_version():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run(layout="full"))

    assert version.layout == "full_model"
    assert {f.path for f in version.files.all()} == {"config.json", "model.safetensors"}


def test_only_final_model_is_promoted_when_it_holds_the_weights():
    run = TunixRunFactory(completed=True)
    output = Path(run.output_dir)
    (output / "checkpoint-100").mkdir()
    (output / "checkpoint-100" / "optimizer.pt").write_bytes(b"x" * 100)
    write_full(output / "final_model")

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert {f.path for f in version.files.all()} == {"config.json", "model.safetensors"}
    assert version.provenance_json["source_dir"].endswith("final_model")


def test_digest_equals_the_sha256sum_pipeline_over_the_run_directory():
    run = promotable_run()

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert version.sha256 == sha256sum_pipeline(run.output_dir)


def test_versions_are_labelled_v1_v2_automatically():
    artifact = ModelArtifactFactory()

    first, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    second, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    assert (first.version, second.version) == ("v1", "v2")


def test_automatic_labels_skip_past_given_ones():
    artifact = ModelArtifactFactory()
    ModelVersion.objects.promote(artifact, promotable_run(seed=1), version="v7")

    version, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    assert version.version == "v8"


def test_a_given_label_is_used():
    version, _ = ModelVersion.objects.promote(
        ModelArtifactFactory(), promotable_run(), version="2026.03-rc1"
    )

    assert version.version == "2026.03-rc1"


def test_a_duplicate_label_is_refused():
    artifact = ModelArtifactFactory()
    ModelVersion.objects.promote(artifact, promotable_run(seed=1), version="gold")

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(artifact, promotable_run(seed=2), version="gold")

    assert excinfo.value.code == "label_taken"
    assert ModelVersion.objects.count() == 1


@pytest.mark.parametrize(
    "label", ["../x", "a/b", "", "x" * 65, "latest", "..", "has space", "v1\n"]
)
def test_a_path_like_empty_or_long_label_is_refused(label):
    with pytest.raises(RegistryError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run(), version=label)

    assert excinfo.value.code == "invalid_label"
    assert ModelVersion.objects.count() == 0


def test_tags_are_validated_and_deduplicated():
    version, _ = ModelVersion.objects.promote(
        ModelArtifactFactory(), promotable_run(), tags=["candidate", "sft", "candidate"]
    )

    assert version.tags == ["candidate", "sft"]


def test_a_path_like_tag_is_refused():
    with pytest.raises(RegistryError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run(), tags=["../etc"])

    assert excinfo.value.code == "invalid_tag"


def test_missing_weights_are_refused_naming_what_was_found():
    run = TunixRunFactory(completed=True)
    (Path(run.output_dir) / "adapter_config.json").write_text("{}")
    (Path(run.output_dir) / "notes.txt").write_text("forgot to save weights")

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "nothing_promotable"
    assert "adapter_model.safetensors" in excinfo.value.message
    assert "found adapter_config.json, notes.txt" in excinfo.value.message


def test_an_incomplete_sharded_checkpoint_is_refused():
    run = TunixRunFactory(completed=True)
    output = Path(run.output_dir)
    (output / "config.json").write_text("{}")
    shards = {f"layer{i}": f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)}
    (output / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    (output / "model-00001-of-00003.safetensors").write_bytes(b"1")
    (output / "model-00002-of-00003.safetensors").write_bytes(b"2")

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "missing_shards"
    assert "model-00003-of-00003.safetensors" in excinfo.value.message


def test_a_complete_sharded_checkpoint_is_promoted():
    run = TunixRunFactory(completed=True)
    output = Path(run.output_dir)
    (output / "config.json").write_text("{}")
    shards = {f"layer{i}": f"model-0000{i}-of-00002.safetensors" for i in (1, 2)}
    (output / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    for name in shards.values():
        (output / name).write_bytes(name.encode())

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert version.file_count == 4


def test_a_failed_run_needs_force():
    run = promotable_run()
    run.status = "failed"
    run.save()

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "run_failed"
    assert "force" in excinfo.value.message


def test_a_failed_run_is_promoted_with_force_and_says_so():
    run = promotable_run()
    run.status = "failed"
    run.save()

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run, force=True)

    assert version.is_ready
    assert version.provenance_json["forced"] is True
    assert version.provenance_json["run_status"] == "failed"


@pytest.mark.parametrize("status", ["pending", "running", "cancelled"])
def test_an_unfinished_or_cancelled_run_is_refused_even_with_force(status):
    run = promotable_run()
    run.status = status
    run.save()

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run, force=True)

    assert excinfo.value.code == "run_not_completed"
    assert status in excinfo.value.message


def test_a_dry_run_is_refused():
    run = promotable_run(config={"dry_run": True})

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "dry_run"


def test_a_symlink_in_the_run_directory_is_refused_naming_it():
    run = promotable_run()
    (Path(run.output_dir) / "secrets").symlink_to("/etc/passwd")

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "symlink_refused"
    assert "secrets" in excinfo.value.message
    assert ModelVersion.objects.count() == 0


def test_promoting_the_same_run_again_returns_the_existing_version():
    artifact = ModelArtifactFactory()
    run = promotable_run()
    first, _ = ModelVersion.objects.promote(artifact, run)

    again, created = ModelVersion.objects.promote(artifact, run)

    assert not created
    assert again.pk == first.pk
    assert ModelVersion.objects.count() == 1


def test_promoting_again_writes_no_blob():
    artifact = ModelArtifactFactory()
    run = promotable_run()
    ModelVersion.objects.promote(artifact, run)
    store = blob_store()
    before = {digest: store.identity(digest) for digest in stored_digests()}

    ModelVersion.objects.promote(artifact, run)

    assert {digest: store.identity(digest) for digest in stored_digests()} == before


def test_a_second_label_for_the_same_content_is_refused_naming_the_first():
    artifact = ModelArtifactFactory()
    run = promotable_run()
    ModelVersion.objects.promote(artifact, run, version="gold")

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(artifact, run, version="platinum")

    assert excinfo.value.code == "content_already_promoted"
    assert ":gold" in excinfo.value.message


def test_changed_content_in_the_same_run_makes_a_new_version():
    artifact = ModelArtifactFactory()
    run = promotable_run(seed=1)
    first, _ = ModelVersion.objects.promote(artifact, run)
    write_lora(Path(run.output_dir), seed=99)

    second, created = ModelVersion.objects.promote(artifact, run)

    assert created
    assert second.sha256 != first.sha256


def test_the_same_run_into_another_model_is_a_new_version():
    run = promotable_run()
    first, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    second, created = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert created
    assert second.sha256 == first.sha256


def test_an_identical_file_in_two_versions_is_stored_once():
    artifact = ModelArtifactFactory()
    ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    assert blob_count() == 2

    # Same adapter config (same rank), different weights: one new blob, not two.
    ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    assert blob_count() == 3


def test_provenance_is_frozen_at_promotion():
    user = UserFactory(username="curator")
    run = promotable_run(metrics={"eval_loss": 0.3})
    run.base_model_id, run.dataset_id, run.git_sha = "google/gemma-3-1b-it", "tunix/chat", "abc123"
    run.save()

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run, user=user)
    run.record_progress(metrics={"eval_loss": 9.9})

    version.refresh_from_db()
    provenance = version.provenance_json
    assert version.metrics_json == {"eval_loss": 0.3}
    assert provenance["run_id"] == str(run.id)
    assert (provenance["base_model_id"], provenance["dataset_id"], provenance["git_sha"]) == (
        "google/gemma-3-1b-it",
        "tunix/chat",
        "abc123",
    )
    assert provenance["promoted_by"] == "curator"
    assert len(provenance["requirements_sha256"]) == 64
    assert provenance["tunix_rt_version"]
    assert provenance["promoted_at"]


def test_deleting_the_run_keeps_the_version_and_its_provenance():
    run = promotable_run()
    run_id = str(run.id)
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    run.delete()

    version.refresh_from_db()
    assert version.source_run is None
    assert version.provenance_json["run_id"] == run_id
    assert version.is_ready


def test_a_ready_version_refuses_changes_on_save():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    version.metrics_json = {"eval_loss": 0.0}

    with pytest.raises(VersionImmutableError) as excinfo:
        version.save()

    assert "metrics_json" in excinfo.value.message
    version.refresh_from_db()
    assert version.metrics_json != {"eval_loss": 0.0}


def test_a_ready_version_refuses_changes_through_queryset_update():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())

    with pytest.raises(VersionImmutableError):
        ModelVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)

    version.refresh_from_db()
    assert version.sha256 != "0" * 64


def test_a_ready_version_cannot_be_deleted():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())

    with pytest.raises(VersionImmutableError):
        version.delete()
    with pytest.raises(VersionImmutableError):
        ModelVersion.objects.filter(pk=version.pk).delete()

    assert ModelVersion.objects.filter(pk=version.pk).exists()


def test_a_ready_version_tags_can_change():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())

    version.set_tags(["production", "reviewed"])

    version.refresh_from_db()
    assert version.tags == ["production", "reviewed"]


@pytest.mark.filesystem_store
def test_a_failure_midway_leaves_nothing_visible_and_a_retry_succeeds(monkeypatch):
    artifact = ModelArtifactFactory()
    run = promotable_run(layout="full")
    real_replace = os.replace
    calls = {"n": 0}

    def disk_full_on_second_file(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", disk_full_on_second_file)
        with pytest.raises(PromotionError) as excinfo:
            ModelVersion.objects.promote(artifact, run)

    assert excinfo.value.code == "storage_failed"
    assert "the disk is full" in excinfo.value.message
    assert ModelVersion.objects.count() == 0
    assert ModelFile.objects.count() == 0
    store = BlobStore(settings.MODEL_REGISTRY_PATH)
    assert list(store.tmp.iterdir()) == []

    version, created = ModelVersion.objects.promote(artifact, run)

    assert created and version.is_ready
    assert all(c.ok for c in version.verify())


def test_a_missing_output_directory_is_refused_clearly():
    run = promotable_run()
    shutil.rmtree(run.output_dir)

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "output_dir_missing"


def test_verify_detects_a_tampered_blob():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    weights = version.files.get(path="adapter_model.safetensors")
    StoredBlob(weights.sha256).write_bytes(b"evil")

    checks = {c.path: c.status for c in version.verify()}

    assert checks == {"adapter_config.json": "ok", "adapter_model.safetensors": "mismatch"}


def run_concurrently(count: int, work) -> tuple[list, list]:
    """Run `work(i)` in `count` threads released together; return (results, errors)."""
    results, errors = [], []
    barrier = threading.Barrier(count)

    def target(i):
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # collected and asserted on by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: concurrent connections and row locks",
)


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_promotions_of_the_same_run_make_exactly_one_version():
    artifact = ModelArtifactFactory()
    run = promotable_run()

    results, errors = run_concurrently(8, lambda i: ModelVersion.objects.promote(artifact, run))

    assert errors == []
    assert ModelVersion.objects.count() == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len({version.pk for version, _ in results}) == 1


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_promotions_of_different_runs_get_eight_labels():
    artifact = ModelArtifactFactory()
    runs = [promotable_run(seed=i) for i in range(8)]

    results, errors = run_concurrently(8, lambda i: ModelVersion.objects.promote(artifact, runs[i]))

    assert errors == []
    labels = sorted(version.version for version, _ in results)
    assert labels == sorted(f"v{n}" for n in range(1, 9))


def test_a_run_outside_the_run_roots_is_refused_at_promotion_too(settings, tmp_path):
    run = promotable_run()
    settings.RUN_ROOTS = [tmp_path / "somewhere-else"]

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code == "outside_run_roots"
    assert ModelVersion.objects.count() == 0


def test_a_final_model_symlinked_outside_is_not_followed(tmp_path):
    run = TunixRunFactory(completed=True)
    elsewhere = write_full(tmp_path / "elsewhere")
    (Path(run.output_dir) / "final_model").symlink_to(elsewhere)

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert excinfo.value.code in ("nothing_promotable", "symlink_refused")
    assert ModelVersion.objects.count() == 0


# ---- Hub repo ids and revisions -----------------------------------------------------------------


def test_a_new_model_gets_a_repo_id_from_its_name():
    from registry.models import ModelArtifact

    artifact = ModelArtifact.objects.create_artifact(name="Gemma3-1B Tunix SFT")

    assert artifact.repo_id == "gemma3-1b-tunix-sft"


def test_a_repo_id_made_from_a_name_skips_taken_ones():
    from registry.models import ModelArtifact

    ModelArtifactFactory(repo_id="Gemma-SFT")

    artifact = ModelArtifact.objects.create_artifact(name="gemma sft")

    assert artifact.repo_id == "gemma-sft-2"


def test_a_repo_id_taken_in_another_case_is_refused():
    from django.core.exceptions import ValidationError

    from registry.models import ModelArtifact

    ModelArtifactFactory(repo_id="acme/gemma")

    with pytest.raises(ValidationError):
        ModelArtifact.objects.create_artifact(name="other", repo_id="ACME/Gemma")


def test_revision_prefers_an_alias_to_a_label_of_the_same_name():
    artifact = ModelArtifactFactory()
    ModelVersion.objects.promote(artifact, promotable_run(seed=1), version="stable")
    second, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    artifact.aliases.point(artifact, "stable", second)

    assert ModelVersion.objects.at_revision(artifact, "stable") == second


def test_revision_by_commit_id_finds_only_that_models_version():
    artifact, other = ModelArtifactFactory(), ModelArtifactFactory()
    theirs, _ = ModelVersion.objects.promote(other, promotable_run(seed=1))
    ModelVersion.objects.promote(artifact, promotable_run(seed=1))

    with pytest.raises(RegistryError) as refused:
        ModelVersion.objects.at_revision(artifact, theirs.commit)

    assert refused.value.code == "revision_not_found"


def test_main_is_latest_without_an_alias_named_main():
    artifact = ModelArtifactFactory()
    ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    newest, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    assert ModelVersion.objects.at_revision(artifact, "main") == newest


def test_a_commit_id_is_recorded_at_promotion_and_never_changes():
    artifact = ModelArtifactFactory()
    version, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    version.commit = "f" * 40

    with pytest.raises(VersionImmutableError):
        version.save()


def test_an_archived_version_is_as_immutable_as_a_ready_one():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    version.status = "archived"
    version.save(update_fields=["status"])

    version.metrics_json = {"eval_loss": 0.0}
    with pytest.raises(VersionImmutableError):
        version.save()
    with pytest.raises(VersionImmutableError):
        ModelVersion.objects.filter(pk=version.pk).update(status="ready")
    with pytest.raises(VersionImmutableError):
        ModelVersion.objects.filter(pk=version.pk).delete()

    assert ModelVersion.objects.get(pk=version.pk).status == "archived"


def test_retention_archiving_a_ready_version_in_bulk_is_allowed():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())

    ModelVersion.objects.filter(pk=version.pk).update(status="archived")

    assert ModelVersion.objects.get(pk=version.pk).status == "archived"
