import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from runs.exceptions import RunTransitionError
from runs.lifecycle import RunStatus
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
