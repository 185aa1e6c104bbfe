"""`kill -9` of a promotion at each stage, in real processes on a real SQLite file."""

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory):
    """A migrated SQLite file, copied for each test (migrating takes seconds)."""
    directory = tmp_path_factory.mktemp("crash-template")
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    return directory / "db.sqlite3"


@pytest.fixture
def registry_env(tmp_path, migrated_database):
    """An environment for child processes: own database, run root and registry."""
    database = tmp_path / "db.sqlite3"
    shutil.copy(migrated_database, database)
    runs = tmp_path / "runs"
    run_dir = runs / "big-run"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text('{"model_type": "gemma3_text"}\n')
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (run_dir / name).write_bytes(os.urandom(8 * 1024 * 1024))
    (run_dir / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model-00001-of-00002.safetensors",'
        ' "b": "model-00002-of-00002.safetensors"}}'
    )
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{database}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "RUNS_ROOT": str(runs),
        "MODEL_REGISTRY_PATH": str(tmp_path / "registry"),
        "LOG_LEVEL": "WARNING",
    }
    run_id = manage(env, "import_run", str(run_dir)).strip()
    manage(
        env,
        "shell",
        "-c",
        "from registry.models import ModelArtifact as A; A.objects.create(name='m')",
    )
    return {"env": env, "run_id": run_id, "database": database, "registry": tmp_path / "registry"}


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def kill_at(stage: str, setup: dict, tmp_path: Path) -> None:
    signal_file = tmp_path / f"{stage}.waiting"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), stage, setup["run_id"], "m", str(signal_file)],
        cwd=BASE_DIR,
        env=setup["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while not signal_file.exists():
        if child.poll() is not None:
            raise AssertionError(child.stderr.read().decode())
        assert time.time() < deadline, "the child never reached its stage"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def assert_store_is_consistent(setup: dict) -> None:
    """No blob under a final name that is not its content; no ready version lacks a blob."""
    blobs = setup["registry"] / "blobs" / "sha256"
    for blob in blobs.glob("*/*") if blobs.exists() else ():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob
    with sqlite3.connect(setup["database"]) as db:
        rows = db.execute(
            "SELECT f.sha256 FROM registry_modelfile f JOIN registry_modelversion v "
            "ON v.id = f.version_id WHERE v.status = 'ready'"
        ).fetchall()
        statuses = db.execute("SELECT status FROM registry_modelversion").fetchall()
    assert all((blobs / digest[:2] / digest).is_file() for (digest,) in rows)
    assert all(status == "ready" for (status,) in statuses), statuses


@pytest.mark.parametrize("stage", ["copying", "before_record", "in_transaction"])
def test_a_promotion_killed_at_any_stage_leaves_a_consistent_store_and_can_be_redone(
    stage, registry_env, tmp_path
):
    kill_at(stage, registry_env, tmp_path)

    assert_store_is_consistent(registry_env)
    with sqlite3.connect(registry_env["database"]) as db:
        assert db.execute("SELECT COUNT(*) FROM registry_modelversion").fetchone() == (0,)

    printed = manage(registry_env["env"], "promote_run", registry_env["run_id"], "--model", "m")

    assert "Promoted m:v1" in printed
    assert_store_is_consistent(registry_env)
    assert "ok" in manage(registry_env["env"], "verify_version", "--all")


def test_a_killed_promotion_leaves_only_temporary_files_that_gc_removes(registry_env, tmp_path):
    kill_at("copying", registry_env, tmp_path)
    leftovers = list((registry_env["registry"] / "tmp").glob("*.partial"))

    printed = manage(registry_env["env"], "registry_gc", "--grace-seconds", "0")

    assert leftovers, "the kill should have left a temporary file behind"
    assert not any(path.exists() for path in leftovers)
    assert f"{len(leftovers)} temporary files" in printed
