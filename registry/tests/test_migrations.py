"""Migration 0007 fills in repo ids and commit ids for rows made before it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.managers import version_commit

BEFORE = [("registry", "0006_verification_failures")]
AFTER = [("registry", "0007_artifact_repo_id_version_commit")]


@pytest.fixture
def old_state(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())


def migrate_forward():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    return executor.loader.project_state(AFTER).apps


def make_ready_versions(apps):
    artifact_model = apps.get_model("registry", "ModelArtifact")
    version_model = apps.get_model("registry", "ModelVersion")
    first = artifact_model.objects.create(name="Gemma3-1B Tunix SFT")
    second = artifact_model.objects.create(name="gemma3 1b  tunix sft!")
    for artifact in (first, second):
        for label in ("v1", "v2"):
            version_model.objects.create(
                artifact=artifact, version=label, status="ready", sha256="ab" * 32
            )
    return first, second


def test_existing_models_get_distinct_repo_ids_from_their_names(old_state):
    first, second = make_ready_versions(old_state)

    apps = migrate_forward()

    artifacts = apps.get_model("registry", "ModelArtifact").objects
    assert [artifacts.get(pk=a.pk).repo_id for a in (first, second)] == [
        "gemma3-1b-tunix-sft",
        "gemma3-1b-tunix-sft-2",
    ]


def test_existing_ready_versions_get_the_commit_promotion_would_give(old_state):
    make_ready_versions(old_state)

    apps = migrate_forward()

    versions = apps.get_model("registry", "ModelVersion").objects.all()
    assert {v.commit for v in versions} == {
        version_commit(v.artifact_id, v.version, v.sha256) for v in versions
    }
    assert len({v.commit for v in versions}) == 4
