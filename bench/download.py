"""Benchmark downloads through the real HTTP stack, and the list endpoints' latency at scale.

    .venv/bin/python bench/download.py [--size-mib 2048] [--rounds 3]
                                       [--models 1000 --versions 10000] [--tree PATH]

0. Prints the machine's CPU speed first: SHA-256 of a fixed 256 MiB buffer in memory and a
   10-million-step Python loop, so figures from a slow day and a fast one can be told apart.
1. Promotes a full-model version of `--size-mib` (config.json, shard index, 4 random shards).
2. Serves the app with gunicorn (one sync worker) on 127.0.0.1 and, in the same run, times
   `cat blobs > /dev/null` (the read rate) and `curl -o /dev/null` of the version's ZIP and of its
   largest file through the server, warm and (as root, caches dropped before each) cold; prints
   each ratio to the read rate per round, as a median with its spread (goal: ZIP >= 0.8 cold),
   and the worker's peak resident memory (goal: flat in file size). Cold, it also times the ZIP
   when the server must hash every byte (the blobs' verified identities forgotten first).
   Beside them, the transport's own limit: curl of the same blobs from a bare server that only
   `sendfile()`s them (no framework, no checks), warm and cold.
3. When mlflow is importable, logs the same files to a local MLflow store and times
   `mlflow.artifacts.download_artifacts` of them, warm (a local file copy, no socket). With
   `--mlflow-server-python` (or MLFLOW_SERVER_PYTHON) naming a Python that has the full `mlflow`
   package, also times MLflow as deployed: `mlflow server --serve-artifacts` on loopback and the
   client's HTTP download into tmpfs, warm and cold (goal: our ZIP >= 2x as fast, warm)::

       python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow==3.17.2
4. Creates `--models` artifacts holding `--versions` versions in all (with an `eval_loss` metric
   each) and prints the median and 95th-percentile latency of `GET /api/models`, the versions
   list and a metric search (first page) over 50 requests each (goal: median < 50 ms).

`--tree` serves another checkout of the project (e.g. an older commit, for a before/after in the
same session); this script and its measurements stay the same.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
from promote import make_run_directory  # noqa: E402 (bench/ is the script's own directory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str, tree: Path = BASE_DIR) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def setup_data(env: dict, source: Path, models: int, versions: int, tree: Path = BASE_DIR) -> dict:
    """Promote the big version and create the listing data; return ids and a token."""
    script = f"""
import json, uuid
from django.conf import settings
from django.contrib.auth import get_user_model
from registry.storage import BlobStore
from rest_framework.authtoken.models import Token
from registry.models import ModelArtifact, ModelVersion, VersionMetric
from runs.models import TunixRun
user = get_user_model().objects.create_user("bench", password="bench-password-123")
token = Token.objects.create(user=user).key
run = TunixRun.objects.register_directory({str(source)!r}, name="bench-run")
big = ModelArtifact.objects.create_artifact(name="bench-big")
version, _ = ModelVersion.objects.promote(big, run)
artifacts = ModelArtifact.objects.bulk_create(
    ModelArtifact(name=f"model-{{i:04d}}", description="bench", task_type="causal-lm")
    for i in range({models})
)
per_model = {versions} // {models}
listed = ModelVersion.objects.bulk_create(
    ModelVersion(
        artifact=a, version=f"v{{n}}", status="ready", sha256=uuid.uuid4().hex * 2,
        commit=uuid.uuid4().hex + uuid.uuid4().hex[:8],
        size_bytes=1000 * n, file_count=2, metrics_json={{"eval_loss": 1 / n}},
    )
    for a in artifacts for n in range(1, per_model + 1)
)
VersionMetric.objects.bulk_create(
    VersionMetric(version=v, key="eval_loss", value=v.metrics_json["eval_loss"]) for v in listed
)
largest = version.files.order_by("-size_bytes").first()
store = BlobStore(settings.MODEL_REGISTRY_PATH)
blobs = [str(p) for _, p in store.iter_files(version.manifest())]
report = {{"version": version.pk, "token": token, "largest": largest.path, "blobs": blobs}}
print(json.dumps(report))
"""
    output = manage(env, "shell", "-v0", "-c", script, tree=tree)
    return json.loads(output.strip().splitlines()[-1])


# Forget which blobs were verified, so the next download hashes every byte while it sends them.
FORGET_CHECKS = "from registry.models import BlobCheck; BlobCheck.objects.all().delete()"


def curl(url: str, token: str) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-f",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "-H",
            f"Authorization: Token {token}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, int(result.stdout)


def timed_cat(paths: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", *paths], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def worker_peak_rss_kib(master_pid: int) -> int:
    """Return the largest VmHWM among the gunicorn master's children."""
    peak = 0
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return peak


def worker_cpu_seconds(master_pid: int) -> float:
    """Return the user + system CPU seconds the gunicorn master's children have used so far.

    Less sensitive to other processes' load than wall time: what serving a download costs.
    """
    total = 0.0
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def drop_caches() -> bool:
    """Empty the page cache (root only), so reads come from the disk; return whether it worked."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not answer at {url}")


def cpu_speed() -> tuple[float, float]:
    """Return (SHA-256 of a fixed 256 MiB in memory, GiB/s; a 10-million-step Python loop, s)."""
    data = bytes(range(256)) * (1024 * 1024)
    start = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    sha_rate = len(data) / 2**30 / (time.perf_counter() - start)
    start = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    return sha_rate, time.perf_counter() - start


MLFLOW_SCRIPT = """
import json, shutil, sys, tempfile, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run() as run:
    mlflow.log_artifacts(sys.argv[2], artifact_path="model")
times = []
for _ in range(int(sys.argv[3]) + 1):  # the first warms the cache and is not counted
    target = tempfile.mkdtemp(dir=sys.argv[4])
    start = time.perf_counter()
    mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model", dst_path=target
    )
    times.append(time.perf_counter() - start)
    shutil.rmtree(target)
print(json.dumps(times[1:]))
"""


def mlflow_download(source: Path, work: Path, rounds: int) -> list[float] | str:
    """Time MLflow's download of `source` from a local store, warm; or say why it was not."""
    try:
        import mlflow  # noqa: F401 (only whether it is there)
    except ImportError as exc:
        return f"mlflow is not importable ({exc})"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MLFLOW_SCRIPT,
            f"file:{work / 'mlruns'}",
            str(source),
            str(rounds),
            str(work),
        ],
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_ENABLE_PROGRESS_BAR": "0"},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return f"mlflow failed: {result.stderr.strip().splitlines()[-1:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# The transport's own limit: a server that does nothing but answer with the blobs' bytes by
# `sendfile()`, no HTTP framework, no ZIP headers, no checks. curl's receiving side over loopback
# costs CPU on the same two cores, so this, not `cat`, is the fastest any HTTP download can be here.
BARE_SENDFILE_SERVER = """
import os, socket, sys
port, paths = int(sys.argv[1]), sys.argv[2:]
size = sum(os.path.getsize(p) for p in paths)
def serve_one(client):
    request = b""
    while b"\\r\\n\\r\\n" not in request:
        chunk = client.recv(65536)
        if not chunk:
            break
        request += chunk
    client.sendall(
        b"HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\n"
        + f"Content-Length: {size}\\r\\nConnection: close\\r\\n\\r\\n".encode()
    )
    for path in paths:
        with open(path, "rb") as blob:
            offset, length = 0, os.fstat(blob.fileno()).st_size
            while offset < length:
                offset += os.sendfile(client.fileno(), blob.fileno(), offset, length - offset)


listener = socket.create_server(("127.0.0.1", port))
while True:
    client, _ = listener.accept()
    try:
        serve_one(client)
    except OSError:
        pass  # the client went away
    finally:
        client.close()
"""


def bare_sendfile_server(port: int, paths: list[str]) -> subprocess.Popen:
    """Start the transport-limit server for `paths` on 127.0.0.1:`port`, in its own session."""
    return subprocess.Popen(
        [sys.executable, "-c", BARE_SENDFILE_SERVER, str(port), *paths], start_new_session=True
    )


# MLflow as a team deploys it: a tracking server proxying its artifact store
# (`mlflow server --serve-artifacts`), the client downloading over HTTP. mlflow-skinny (ours, for
# the client tests) has no server, so this needs a Python with the full `mlflow` package.
MLFLOW_HTTP_SCRIPT = """
import json, os, shutil, subprocess, sys, tempfile, time
import mlflow
uri, source, rounds, scratch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
mlflow.set_tracking_uri(uri)
with mlflow.start_run() as run:
    mlflow.log_artifacts(source, artifact_path="model")

def download():
    target = tempfile.mkdtemp(dir=scratch)
    start = time.perf_counter()
    mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model", dst_path=target
    )
    seconds = time.perf_counter() - start
    shutil.rmtree(target)
    return seconds

def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("3\\n")

download()  # warms the cache and the connection; not counted
warm = [download() for _ in range(rounds)]
cold = []
for _ in range(rounds):
    try:
        drop_caches()
    except OSError:
        break
    cold.append(download())
print(json.dumps({"warm": warm, "cold": cold}))
"""


def mlflow_http_download(python: str, source: Path, work: Path, rounds: int) -> dict | str:
    """Time MLflow's HTTP download of `source` from `mlflow server --serve-artifacts`."""
    port = free_port()
    # The client writes what it downloads; tmpfs keeps that from costing a disk write.
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else work))
    server = subprocess.Popen(
        [
            *(python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", f"sqlite:///{work / 'mlflow-server.sqlite3'}"),
            *("--artifacts-destination", str(work / "mlflow-artifacts"), "--serve-artifacts"),
            *("--workers", "1"),
        ],
        env={**os.environ, "MLFLOW_ENABLE_PROGRESS_BAR": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", timeout=120)
        result = subprocess.run(
            [
                *(python, "-c", MLFLOW_HTTP_SCRIPT, f"http://127.0.0.1:{port}"),
                *(str(source), str(rounds), str(scratch)),
            ],
            env={**os.environ, "MLFLOW_ENABLE_PROGRESS_BAR": "0"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            return f"mlflow server download failed: {result.stderr.strip().splitlines()[-1:]}"
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


def latencies_ms(url: str, token: str, count: int = 50) -> tuple[list[float], dict]:
    """GET `url` `count` times; return the sorted latencies in ms and the last payload."""
    headers = {"Authorization": f"Token {token}"}
    found = []
    for _ in range(count):
        request = urllib.request.Request(url, headers=headers)
        start = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            payload = json.load(response)
        found.append((time.perf_counter() - start) * 1000)
    return sorted(found), payload


def bench_environment(work: Path) -> dict:
    """Return the environment of a production-like app whose database and files live in `work`."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "REGISTRY_DOWNLOADS_ENABLED": "true",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(work / "media"),
        "MODEL_REGISTRY_PATH": str(work / "registry"),
        "RUN_ROOTS": str(work),
        "LOG_LEVEL": "WARNING",
    }


def serve(env: dict, port: int, *, workers: int = 1, tree: Path = BASE_DIR) -> subprocess.Popen:
    """Start gunicorn (sync workers) serving `tree` on 127.0.0.1:`port`, in its own session."""
    return subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "gunicorn"), "config.wsgi"),
            *("-b", f"127.0.0.1:{port}", "-w", str(workers), "--timeout", "600"),
            *("--log-level", "warning"),
        ],
        env=env,
        cwd=tree,
        start_new_session=True,
    )


def value_range(values: list[float]) -> str:
    """Return `min-max` of per-round figures."""
    return f"{min(values):.2f}-{max(values):.2f}"


def spread(values: list[float]) -> str:
    """Return `median (min-max)` of per-round figures."""
    return f"{statistics.median(values):.2f} ({value_range(values)})"


def row(name: str, seconds: list[float], gib: float, base: list[float] | None = None) -> str:
    """One line: median time and rate, and the per-round ratio base/seconds with its spread."""
    median = statistics.median(seconds)
    line = f"  {name:<30} {median:6.2f} s  {gib / median:6.2f} GiB/s"
    if base is not None:
        line += "  ratio " + spread([b / s for b, s in zip(base, seconds, strict=True)])
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--tree", type=Path, default=BASE_DIR, help="The checkout to serve.")
    parser.add_argument("--no-mlflow", action="store_true", help="Skip MLflow's download.")
    parser.add_argument(
        "--mlflow-server-python",
        default=os.environ.get("MLFLOW_SERVER_PYTHON", ""),
        help="A Python with the full mlflow package, to time MLflow's HTTP download too.",
    )
    args = parser.parse_args()
    tree = args.tree.resolve()

    sha_rate, loop_seconds = cpu_speed()
    print(
        f"Serving {tree} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}); CPU: "
        f"SHA-256 in memory {sha_rate:.2f} GiB/s, 10M-step Python loop {loop_seconds:.2f} s",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="tunix-bench-dl-", dir=args.workdir))
    server = python_server = bare = None
    try:
        source = work / "run"
        print(f"Writing {args.size_mib} MiB and promoting it under {work} ...", flush=True)
        make_run_directory(source, size_mib=args.size_mib, shards=4)
        env = bench_environment(work)
        manage(env, "migrate", "--noinput", tree=tree)
        data = setup_data(env, source, args.models, args.versions, tree=tree)
        mlflow_times = (
            "--no-mlflow given" if args.no_mlflow else mlflow_download(source, work, args.rounds)
        )
        mlflow_http = (
            mlflow_http_download(args.mlflow_server_python, source, work, args.rounds)
            if args.mlflow_server_python and not args.no_mlflow
            else "no --mlflow-server-python given"
        )
        shutil.rmtree(source)
        size = sum(os.path.getsize(p) for p in data["blobs"])

        port, python_port, bare_port = free_port(), free_port(), free_port()
        bare = bare_sendfile_server(bare_port, data["blobs"])
        bare_url = f"http://127.0.0.1:{bare_port}/"

        server = serve(env, port, tree=tree)
        # The same data with every byte through Python (REGISTRY_ZIP_SENDFILE=false): the
        # kernel path's own effect, in the same run. An older tree ignores the setting.
        python_server = serve({**env, "REGISTRY_ZIP_SENDFILE": "false"}, python_port, tree=tree)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/")
        wait_for(f"http://127.0.0.1:{python_port}/api/")
        wait_for_port(bare_port)
        zip_url = f"{base}/api/models/versions/{data['version']}/download"
        python_zip_url = zip_url.replace(f":{port}/", f":{python_port}/")
        file_url = f"{base}/api/models/versions/{data['version']}/files/{data['largest']}"
        largest_blob = max(data["blobs"], key=os.path.getsize)

        samples = {
            "cat": [],
            "zip": [],
            "cat_file": [],
            "file": [],
            "zip_cpu": [],
            "zip_python": [],
            "zip_python_cpu": [],
            "bare": [],
        }
        cold = {"cat": [], "bare": [], "zip": [], "zip_python": [], "zip_hashed": []}
        can_drop = drop_caches()
        for _ in range(args.rounds):
            samples["cat"].append(timed_cat(data["blobs"]))
            seconds, received = curl(bare_url, data["token"])
            assert received == size
            samples["bare"].append(seconds)
            before = worker_cpu_seconds(server.pid)
            seconds, received = curl(zip_url, data["token"])
            samples["zip_cpu"].append(worker_cpu_seconds(server.pid) - before)
            assert received > size, "the zip must hold every byte"
            samples["zip"].append(seconds)
            before = worker_cpu_seconds(python_server.pid)
            samples["zip_python"].append(curl(python_zip_url, data["token"])[0])
            samples["zip_python_cpu"].append(worker_cpu_seconds(python_server.pid) - before)
            samples["cat_file"].append(timed_cat([largest_blob]))
            seconds, received = curl(file_url, data["token"])
            assert received == os.path.getsize(largest_blob)
            samples["file"].append(seconds)
            if can_drop:
                drop_caches()
                cold["cat"].append(timed_cat(data["blobs"]))
                drop_caches()
                cold["bare"].append(curl(bare_url, data["token"])[0])
                drop_caches()
                cold["zip"].append(curl(zip_url, data["token"])[0])
                drop_caches()
                cold["zip_python"].append(curl(python_zip_url, data["token"])[0])
                # The other fail-closed design: hash every byte of every download.
                manage(env, "shell", "-v0", "-c", FORGET_CHECKS, tree=tree)
                drop_caches()
                cold["zip_hashed"].append(curl(zip_url, data["token"])[0])
        peak = worker_peak_rss_kib(server.pid)

        lists = {}
        for name, path in (
            ("GET /api/models", "/api/models"),
            ("GET /api/models/versions", "/api/models/versions"),
            ("metric search", "/api/models/versions?metric=eval_loss&order=metric"),
        ):
            lists[name], payload = latencies_ms(base + path, data["token"])
            if path == "/api/models":
                assert payload["count"] == args.models + 1
            assert payload["results"], f"{path} listed nothing"

        gib = size / 2**30
        file_gib = os.path.getsize(largest_blob) / 2**30
        print(
            f"\nVersion of {gib:.2f} GiB in {len(data['blobs'])} files; {args.rounds} rounds; "
            "medians, and each ratio to `cat` as median (min-max) over the rounds"
        )
        print(row("cat blobs > /dev/null", samples["cat"], gib))
        print(row("curl, bare sendfile() server", samples["bare"], gib, samples["cat"]))
        print(row("curl ZIP via gunicorn", samples["zip"], gib, samples["cat"]))
        print(row("  same, all through Python", samples["zip_python"], gib, samples["cat"]))
        print(row("cat largest file", samples["cat_file"], file_gib))
        print(row("curl largest file", samples["file"], file_gib, samples["cat_file"]))
        if isinstance(mlflow_times, str):
            print(f"  MLflow download (warm)          skipped: {mlflow_times}")
        else:
            print(row("MLflow download_artifacts", mlflow_times, gib))
            ours = [m / z for m, z in zip(mlflow_times, samples["zip"], strict=False)]
            print(f"  our ZIP vs MLflow's download:  {spread(ours)}x as fast (goal >= 2)")
        if isinstance(mlflow_http, str):
            print(f"  MLflow server download          skipped: {mlflow_http}")
        else:
            print(row("MLflow server download, HTTP", mlflow_http["warm"], gib))
            ours = [m / z for m, z in zip(mlflow_http["warm"], samples["zip"], strict=False)]
            print(f"  our ZIP vs MLflow's HTTP download, warm: {spread(ours)}x as fast (goal >= 2)")
        if can_drop:
            print("  cold page cache (caches dropped before each):")
            print(row("cat blobs > /dev/null", cold["cat"], gib))
            print(row("curl, bare sendfile() server", cold["bare"], gib, cold["cat"]))
            print(row("curl ZIP via gunicorn", cold["zip"], gib, cold["cat"]))
            print(row("  same, all through Python", cold["zip_python"], gib, cold["cat"]))
            print(row("same, hashing every byte", cold["zip_hashed"], gib, cold["cat"]))
            if not isinstance(mlflow_http, str) and mlflow_http["cold"]:
                print(row("MLflow server download, HTTP", mlflow_http["cold"], gib, cold["cat"]))
            for name in ("cat", "bare", "zip", "zip_python", "zip_hashed"):
                print(f"    samples {name}: " + " ".join(f"{v:.2f}" for v in cold[name]))
        else:
            print("  (cold page cache not measured: /proc/sys/vm/drop_caches is not writable)")
        print("  warm samples zip: " + " ".join(f"{v:.2f}" for v in samples["zip"]))
        print(
            "  gunicorn worker CPU per warm ZIP (user + system): "
            + " ".join(f"{v:.2f}" for v in samples["zip_cpu"])
            + " s; all through Python: "
            + " ".join(f"{v:.2f}" for v in samples["zip_python_cpu"])
            + " s"
        )
        print(f"  gunicorn worker peak RSS   {peak / 1024:.0f} MiB")
        print(
            f"\nWith {args.models + 1} models, {args.versions + 1} versions (first page of each):"
        )
        for name, found in lists.items():
            p95 = found[int(0.95 * len(found))]
            print(f"  {name:<26} median {statistics.median(found):6.1f} ms, p95 {p95:6.1f} ms")
        ratio = spread([c / z for c, z in zip(samples["cat"], samples["zip"], strict=True)])
        print(f"\nRATIO zip download / cat, warm cache = {ratio}")
        if can_drop:
            ratio = spread([c / z for c, z in zip(cold["cat"], cold["zip"], strict=True)])
            print(f"RATIO zip download / cat, cold cache = {ratio} (goal >= 0.8)")
            ratio = spread([b / z for b, z in zip(cold["bare"], cold["zip"], strict=True)])
            print(f"RATIO zip download / bare sendfile() download, cold cache = {ratio}")
        ratio = spread([b / z for b, z in zip(samples["bare"], samples["zip"], strict=True)])
        print(f"RATIO zip download / bare sendfile() download, warm cache = {ratio}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for process in (server, python_server, bare):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
