import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models.query import QuerySet

from runs.exceptions import RunTransitionError
from runs.lifecycle import CancelWatch, RunStatus
from runs.models import TunixRun
from runs.tests.factories import TunixRunFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("pending", "running"),
        ("pending", "cancelled"),
        ("pending", "failed"),
        ("running", "completed"),
        ("running", "failed"),
        ("running", "cancelled"),
    ],
)
def test_life_cycle_allows_forward_transitions(start, target):
    run = TunixRunFactory(status=start)

    run.record_progress(status=target)

    run.refresh_from_db()
    assert run.status == target


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("completed", "running"),
        ("completed", "pending"),
        ("failed", "completed"),
        ("cancelled", "running"),
        ("running", "pending"),
        ("pending", "completed"),
    ],
)
def test_life_cycle_refuses_illegal_transitions(start, target):
    run = TunixRunFactory(status=start)

    with pytest.raises(RunTransitionError) as excinfo:
        run.record_progress(status=target)

    assert excinfo.value.code == "illegal_transition"
    assert f"A run that is {start} cannot become {target}" in excinfo.value.message
    run.refresh_from_db()
    assert run.status == start


def test_refused_transition_changes_nothing_else():
    run = TunixRunFactory(status=RunStatus.COMPLETED, metrics={"loss": 1.0})

    with pytest.raises(RunTransitionError):
        run.record_progress(status="running", metrics={"loss": 0.1})

    run.refresh_from_db()
    assert run.metrics == {"loss": 1.0}


def test_starting_a_run_sets_started_at_and_finishing_sets_finished_at():
    run = TunixRunFactory(status=RunStatus.PENDING)

    run.record_progress(status="running")
    assert run.started_at is not None
    assert run.finished_at is None

    run.record_progress(status="completed")
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at


def test_recording_the_same_status_is_a_no_op():
    run = TunixRunFactory(status=RunStatus.COMPLETED)

    run.record_progress(status="completed", metrics={"loss": 0.3})

    run.refresh_from_db()
    assert run.status == "completed"
    assert run.metrics == {"loss": 0.3}


def test_cancelling_a_running_run_finishes_it():
    run = TunixRunFactory(status=RunStatus.RUNNING)

    run.cancel()

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.finished_at is not None


@pytest.mark.parametrize("finished", [RunStatus.COMPLETED, RunStatus.CANCELLED])
def test_cancelling_a_finished_run_is_refused_on_the_model(finished):
    run = TunixRunFactory(status=finished)

    with pytest.raises(RunTransitionError) as excinfo:
        run.cancel()

    assert excinfo.value.code == "illegal_transition"
    assert "(it is finished)" in excinfo.value.message


def test_the_database_refuses_an_unknown_run_status():
    with pytest.raises(IntegrityError), transaction.atomic():
        TunixRunFactory(status="paused")


def test_start_trial_creates_a_running_run_under_the_runs_root(settings):
    run_id = "5f0c5a57-3b5e-4d8e-9a52-6f0d6a4b8f10"

    run = TunixRun.objects.start_trial(
        run_id=run_id,
        name="search · trial 1",
        trainer="runs.trainers.lora_demo",
        config={"steps": 10, "dataset": "demo.jsonl"},
        worker="ray:abc_00000",
    )

    run.refresh_from_db()
    assert str(run.pk) == run_id
    assert run.status == RunStatus.RUNNING
    assert run.started_at is not None
    assert run.output_dir == str(settings.RUNS_ROOT / run_id)
    assert run.dataset_id == "demo.jsonl"
    assert run.worker == "ray:abc_00000"


def test_the_cancel_watch_sees_a_cancel_made_elsewhere():
    run = TunixRunFactory(status=RunStatus.RUNNING)
    watch = run.cancel_watch()
    assert watch() is False

    TunixRun.objects.get(pk=run.pk).cancel()
    watch._last_check = 0.0  # as if half a second had passed

    assert watch() is True


def test_the_cancel_watch_asks_the_database_at_most_twice_a_second(django_assert_num_queries):
    watch = TunixRunFactory(status=RunStatus.RUNNING).cancel_watch()

    with django_assert_num_queries(1):
        assert [watch() for _ in range(100)] == [False] * 100


def test_a_busy_database_does_not_break_the_cancel_watch(monkeypatch):
    run = TunixRunFactory(status=RunStatus.RUNNING)
    watch = CancelWatch(run)
    TunixRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)

    def busy(self):
        raise OperationalError("database is locked")

    with monkeypatch.context() as patched:
        patched.setattr(QuerySet, "first", busy)
        assert watch() is False

    watch._last_check = 0.0
    assert watch() is True


def test_relative_output_dir_is_invalid():
    run = TunixRunFactory.build(output_dir="outputs/run-1")

    with pytest.raises(ValidationError) as excinfo:
        run.full_clean()

    assert "must be an absolute path" in str(excinfo.value)


def test_missing_output_dir_is_invalid(runs_root):
    run = TunixRunFactory.build(output_dir=str(runs_root / "nowhere"))

    with pytest.raises(ValidationError) as excinfo:
        run.full_clean()

    assert "does not exist" in str(excinfo.value)


def test_output_files_lists_relative_paths_and_sizes_sorted():
    run = TunixRunFactory(status=RunStatus.COMPLETED)
    root = Path(run.output_dir)
    (root / "sub").mkdir()
    (root / "b.txt").write_bytes(b"12345")
    (root / "sub" / "a.bin").write_bytes(b"1")

    assert run.output_files() == [
        {"path": "b.txt", "size": 5, "valid_utf8": True},
        {"path": "sub/a.bin", "size": 1, "valid_utf8": True},
    ]


def test_output_files_escapes_and_flags_a_name_that_is_not_utf8():
    run = TunixRunFactory(status=RunStatus.COMPLETED)
    (Path(run.output_dir).joinpath(os.fsdecode(b"bad\xff.bin"))).write_bytes(b"12")

    assert run.output_files() == [{"path": "bad\\xff.bin", "size": 2, "valid_utf8": False}]


def test_register_directory_saves_a_completed_run(runs_root):
    run = TunixRun.objects.register_directory(runs_root, metrics={"loss": 0.2})

    assert run.status == "completed"
    assert run.name == runs_root.name
    assert run.output_dir == str(runs_root)
    assert run.finished_at is not None


def test_non_finite_metrics_recorded_by_a_trainer_are_stored_as_null():
    run = TunixRunFactory(running=True)

    run.record_progress(metrics={"loss": float("nan"), "steps": [1.0, float("inf")], "ok": 0.5})

    run.refresh_from_db()
    assert run.metrics == {"loss": None, "steps": [1.0, None], "ok": 0.5}
