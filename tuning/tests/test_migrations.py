"""Migration 0003 adds the life cycle's status constraint to jobs, and takes it away again."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tuning", "0002_curators_can_tune")]
AFTER = [("tuning", "0003_job_status_valid")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_latest(transactional_db):
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def make_job(apps, status):
    return apps.get_model("tuning", "TuningJob").objects.create(
        name="search", trainer="runs.trainers.lora_demo", search_space={}, status=status
    )


def test_after_the_migration_an_unknown_job_status_is_refused(at_latest):
    apps = migrate(AFTER)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_job(apps, "paused")


def test_migrating_back_drops_only_the_constraint_and_keeps_the_jobs(at_latest):
    apps = migrate(AFTER)
    kept = make_job(apps, "completed")

    apps = migrate(BEFORE)
    jobs = apps.get_model("tuning", "TuningJob").objects
    assert jobs.get(pk=kept.pk).status == "completed"
    make_job(apps, "paused")
    assert jobs.filter(status="paused").exists()  # the constraint is gone
    jobs.filter(status="paused").delete()

    apps = migrate(AFTER)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_job(apps, "paused")
