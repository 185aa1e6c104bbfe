"""A tuning job against a Ray cluster started outside the app, as its own processes.

The head is `ray start --head --block` in its own process group, started from a temporary
directory with no PYTHONPATH, and the driver runs elsewhere than the project: the cluster's
workers can import our code only because the job ships it (`py_modules`).
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from registry.tests.factories import ModelArtifactFactory
from tuning.models import TuningJob
from tuning.tests.conftest import start_local_ray

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RAY = Path(sys.executable).parent / "ray"
WORKER = re.compile(r"ray:(?P<trial>\w+)@(?P<host>[^/]+)/(?P<pid>\d+) node=(?P<node>\w+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """End the head's process group: TERM, then KILL for whatever is left after ten seconds."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            process.poll()  # reap the `ray start` process itself
            time.sleep(0.2)


@pytest.fixture(scope="module")
def head():
    """Start a two-CPU Ray head as its own processes; return its address (host:port)."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths stay short
    port = free_port()
    hidden = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "RAY_ADDRESS")
    # RAY_AUTH_MODE stays the session's (pyproject.toml): the driver's and the cluster's must match.
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    log_path = temp_dir / "head.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(RAY),
                "start",
                "--head",
                "--block",
                f"--port={port}",
                "--num-cpus=2",
                "--node-ip-address=127.0.0.1",
                f"--temp-dir={temp_dir}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                # Ray's fixed default ports would clash with any other Ray on this machine.
                f"--ray-client-server-port={free_port()}",
                f"--dashboard-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}",
            ],
            cwd=temp_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The Ray head did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def driver_joins(head, monkeypatch, settings, tmp_path):
    """Make this process a driver that joins `head`: no local Ray while the test runs."""
    import ray

    # Ray puts a driver's working directory on its workers' path, which on one machine would
    # hand them our code; on a real cluster that path is another host's.
    monkeypatch.chdir(tmp_path)

    local = ray.is_initialized()  # the session's `ray_cluster`, if an earlier test started it
    if local:
        ray.shutdown()
    settings.RAY_ADDRESS = head
    yield head
    if ray.is_initialized():
        ray.shutdown()
    if local:
        start_local_ray()


def cluster_node_ids(address: str) -> set[str]:
    """Return the ids of the cluster's live nodes, asking it from a short-lived driver."""
    import ray

    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        return {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    finally:
        ray.shutdown()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_job_on_an_external_cluster_trains_there_and_promotes_the_best(driver_joins, settings):
    job = TuningJob.objects.create_job(
        name="on the cluster",
        trainer="runs.trainers.lora_demo",
        base_config={"steps": 100},
        search_space={"learning_rate": {"type": "grid", "values": [0.01, 0.05]}},
        num_samples=1,
        max_concurrent_trials=2,
    )

    job.execute()

    job.refresh_from_db()
    trials = list(job.trials.select_related("run"))
    assert job.ray_address == driver_joins
    assert job.status == "completed", job.error
    assert [t.status for t in trials] == ["completed", "completed"], [t.run.error for t in trials]
    workers = [WORKER.fullmatch(t.run.worker) for t in trials]
    assert all(workers), [t.run.worker for t in trials]
    assert all(int(w["pid"]) != os.getpid() for w in workers)
    assert {w["node"] for w in workers} <= cluster_node_ids(driver_joins)
    for trial in trials:
        output_dir = Path(trial.run.output_dir)
        assert output_dir.parent == settings.RUNS_ROOT
        assert (output_dir / "adapter_model.safetensors").is_file()

    version, created = job.promote_best(ModelArtifactFactory())

    best_dir = Path(job.best_trial.run.output_dir)
    files = {f.path: f.sha256 for f in version.files.all()}
    assert created
    assert files["adapter_model.safetensors"] == sha256(best_dir / "adapter_model.safetensors")
    assert files["adapter_config.json"] == sha256(best_dir / "adapter_config.json")
