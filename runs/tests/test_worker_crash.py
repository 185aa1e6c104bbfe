"""A worker killed mid-run leaves the run failed, not running: real processes, a real database."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run_row(database: Path, run_id: str) -> tuple[str, str]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT status, error FROM runs_tunixrun WHERE id = ?", (run_id.replace("-", ""),)
        ).fetchone()


def test_a_run_whose_worker_is_killed_is_marked_failed_when_a_worker_starts(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{database}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "--noinput")
    run_id = (
        manage(
            env,
            "shell",
            "-c",
            "from runs.models import TunixRun as R; "
            "print(R.objects.launch(name='long', trainer='runs.trainers.lora_demo',"
            " config={'steps': 20000, 'learning_rate': 0.001}).pk)",
        )
        .strip()
        .splitlines()[-1]
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0.1",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while run_row(database, run_id)[0] != "running":
            assert time.time() < deadline, "the worker never started the run"
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert run_row(database, run_id)[0] == "running"  # what a dead worker leaves behind

    printed = manage(env, "db_worker", "--batch", "--no-startup-delay", "--no-reload")

    status, error = run_row(database, run_id)
    assert status == "failed"
    assert "stopped without finishing it" in error
    assert "Marked failed" in printed
