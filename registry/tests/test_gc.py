"""Garbage collection, retention and the per-model evaluation gate."""

import os
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from registry.exceptions import PromotionError, RegistryError
from registry.models import BlobCheck, ModelAlias, ModelVersion, RegistryEvent
from registry.storage import BlobStore
from registry.stores import blob_store
from registry.tests.factories import ModelArtifactFactory, promotable_run

pytestmark = pytest.mark.django_db


def store() -> BlobStore:
    return BlobStore(settings.MODEL_REGISTRY_PATH)


def age(path, seconds: int = 7200) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def age_everything() -> None:
    for path in store().root.rglob("*"):
        if path.is_file():
            age(path)


def gc(*args) -> str:
    out = StringIO()
    call_command("registry_gc", *args, stdout=out)
    return out.getvalue()


@pytest.mark.filesystem_store  # ages files; test_s3store covers the bucket's collection
def test_gc_removes_unreferenced_old_blobs_and_keeps_referenced_ones():
    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), promotable_run())
    orphan = store().blob_path("ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left behind by a crash")
    age_everything()

    printed = gc()

    assert not orphan.exists()
    assert "Removed 1 blobs" in printed
    assert all(store().has_blob(f.sha256) for f in version.files.all())


@pytest.mark.filesystem_store  # ages files; test_s3store covers the bucket's collection
def test_gc_forgets_the_checks_of_the_blobs_it_removes():
    orphan = store().blob_path("ef" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    BlobCheck.objects.record({orphan.name: (store().identity(orphan.name), True)})
    age(orphan)

    gc()

    assert not BlobCheck.objects.filter(sha256=orphan.name).exists()


@pytest.mark.filesystem_store  # ages files; test_s3store covers the bucket's collection
def test_gc_dry_run_changes_nothing():
    orphan = store().blob_path("cd" * 32)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    age(orphan)

    printed = gc("--dry-run")

    assert orphan.exists()
    assert "Would remove 1 blobs" in printed


@pytest.mark.filesystem_store  # ages files; test_s3store covers the bucket's collection
def test_gc_removes_stale_temporary_files_but_not_fresh_ones():
    store().tmp.mkdir(parents=True)
    stale = store().tmp / "dead.partial"
    fresh = store().tmp / "writing.partial"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    age(stale)

    gc()

    assert not stale.exists()
    assert fresh.exists()


def test_gc_never_collects_a_blob_written_by_a_promotion_in_flight(monkeypatch):
    artifact, run = ModelArtifactFactory(), promotable_run()
    store_class = type(blob_store())
    put_directory = store_class.put_directory

    def gc_between_storing_and_recording(self, *args, **kwargs):
        stored = put_directory(self, *args, **kwargs)
        # The blobs are written but no version references them yet: the worst moment for a gc.
        gc()
        return stored

    monkeypatch.setattr(store_class, "put_directory", gc_between_storing_and_recording)

    version, created = ModelVersion.objects.promote(artifact, run)

    assert created
    assert all(check.ok for check in version.verify())


def test_a_promotion_whose_blobs_vanished_fails_cleanly_and_a_retry_succeeds(monkeypatch):
    artifact, run = ModelArtifactFactory(), promotable_run()
    store_class = type(blob_store())
    put_directory = store_class.put_directory

    def aggressive_gc_after_storing(self, *args, **kwargs):
        stored = put_directory(self, *args, **kwargs)
        ModelVersion.objects.collect_garbage(grace_seconds=0)
        return stored

    with monkeypatch.context() as patch:
        patch.setattr(store_class, "put_directory", aggressive_gc_after_storing)
        with pytest.raises(PromotionError) as excinfo:
            ModelVersion.objects.promote(artifact, run)
    assert excinfo.value.code == "blob_missing"
    assert not ModelVersion.objects.exists()

    version, created = ModelVersion.objects.promote(artifact, run)

    assert created and all(check.ok for check in version.verify())


def test_after_gc_verify_all_finds_nothing_missing():
    artifact = ModelArtifactFactory()
    for seed in range(3):
        ModelVersion.objects.promote(artifact, promotable_run(seed=seed))
    age_everything()

    gc()
    out = StringIO()
    call_command("verify_version", "--all", stdout=out)

    assert out.getvalue().count(": ok") == 3


def test_retention_archives_old_versions_but_keeps_protected_aliased_and_newest():
    artifact = ModelArtifactFactory(keep_last_versions=2)
    _v1, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1), tags=["production"])
    v2, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    v3, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=3))
    ModelAlias.objects.point(artifact, "staging", v3)
    _v4, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=4))
    _v5, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=5))

    statuses = {v.version: v.status for v in ModelVersion.objects.all()}

    assert statuses == {
        "v1": "ready",  # protected tag
        "v2": "archived",
        "v3": "ready",  # holds an alias
        "v4": "ready",
        "v5": "ready",
    }
    assert RegistryEvent.objects.filter(kind="archive", version=v2).exists()


def test_an_archived_version_cannot_be_downloaded_and_its_blobs_are_released(
    reader_client, downloads_enabled
):
    artifact = ModelArtifactFactory(keep_last_versions=1)
    old, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    old.refresh_from_db()
    weights = old.files.get(path="adapter_model.safetensors").sha256
    age_everything()

    response = reader_client.get(f"/api/models/versions/{old.pk}/download")
    gc()

    assert old.status == "archived"
    assert response.status_code == 410
    assert response.json()["code"] == "archived"
    assert not store().has_blob(weights)


def test_an_archived_version_says_so_on_its_page(client):
    from runs.tests.factories import UserFactory

    client.force_login(UserFactory())
    artifact = ModelArtifactFactory(keep_last_versions=1)
    old, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    ModelVersion.objects.promote(artifact, promotable_run(seed=2))

    html = client.get(f"/registry/versions/{old.pk}/").content.decode()

    assert "archived by the model's retention policy" in html
    assert "Download ZIP" not in html


def test_an_archived_version_cannot_take_an_alias():
    artifact = ModelArtifactFactory(keep_last_versions=1)
    old, _ = ModelVersion.objects.promote(artifact, promotable_run(seed=1))
    ModelVersion.objects.promote(artifact, promotable_run(seed=2))
    old.refresh_from_db()

    with pytest.raises(RegistryError) as excinfo:
        ModelAlias.objects.point(artifact, "production", old)

    assert excinfo.value.code == "version_not_ready"


def test_a_model_requiring_completed_evaluation_refuses_other_runs():
    artifact = ModelArtifactFactory(requires_completed_eval=True)
    run = promotable_run()
    run.eval_status = "pending"
    run.save()

    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(artifact, run)

    assert excinfo.value.code == "evaluation_required"
    assert "evaluation is pending" in excinfo.value.message


def test_a_model_requiring_completed_evaluation_accepts_evaluated_runs():
    artifact = ModelArtifactFactory(requires_completed_eval=True)

    version, created = ModelVersion.objects.promote(artifact, promotable_run())

    assert created and version.is_ready
