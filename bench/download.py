"""Benchmark downloads through the real HTTP stack, and the model list's latency at scale.

    .venv/bin/python bench/download.py [--size-mib 2048] [--rounds 3]
                                       [--models 1000 --versions 10000]

1. Promotes a full-model version of `--size-mib` (config.json, shard index, 4 random shards).
2. Serves the app with gunicorn (one sync worker) on 127.0.0.1 and, in the same run, times
   `cat blobs > /dev/null` (the read rate) and `curl -o /dev/null` of the version's ZIP and of its
   largest file through the server; prints the rates and their ratio to the read rate (goal:
   >= 0.8), and the worker's peak resident memory (goal: flat in file size). With a cold cache it
   also times the ZIP when the server must hash every byte (the blobs' verified identities
   forgotten first): the cost of the other fail-closed design, and of a first download.
3. Creates `--models` artifacts holding `--versions` versions in all, and prints the median and
   95th-percentile latency of `GET /api/models` (first page) over 50 requests.
"""

import argparse
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


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def setup_data(env: dict, source: Path, models: int, versions: int) -> dict:
    """Promote the big version and create the listing data; return ids and a token."""
    script = f"""
import json, uuid
from django.conf import settings
from django.contrib.auth import get_user_model
from registry.storage import BlobStore
from rest_framework.authtoken.models import Token
from registry.models import ModelArtifact, ModelVersion
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
ModelVersion.objects.bulk_create(
    ModelVersion(
        artifact=a, version=f"v{{n}}", status="ready", sha256=uuid.uuid4().hex * 2,
        commit=uuid.uuid4().hex + uuid.uuid4().hex[:8],
        size_bytes=1000 * n, file_count=2, metrics_json={{"eval_loss": 1 / n}},
    )
    for a in artifacts for n in range(1, per_model + 1)
)
largest = version.files.order_by("-size_bytes").first()
store = BlobStore(settings.MODEL_REGISTRY_PATH)
blobs = [str(p) for _, p in store.iter_files(version.manifest())]
report = {{"version": version.pk, "token": token, "largest": largest.path, "blobs": blobs}}
print(json.dumps(report))
"""
    return json.loads(manage(env, "shell", "-v0", "-c", script).strip().splitlines()[-1])


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


def drop_caches() -> bool:
    """Empty the page cache (root only), so reads come from the disk; return whether it worked."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tunix-bench-dl-", dir=args.workdir))
    server = None
    try:
        source = work / "run"
        print(f"Writing {args.size_mib} MiB and promoting it under {work} ...", flush=True)
        make_run_directory(source, size_mib=args.size_mib, shards=4)
        env = {
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
        manage(env, "migrate", "--noinput")
        data = setup_data(env, source, args.models, args.versions)
        shutil.rmtree(source)
        size = sum(os.path.getsize(p) for p in data["blobs"])

        port = free_port()
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--timeout",
                "600",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=BASE_DIR,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/")
        zip_url = f"{base}/api/models/versions/{data['version']}/download"
        file_url = f"{base}/api/models/versions/{data['version']}/files/{data['largest']}"
        largest_blob = max(data["blobs"], key=os.path.getsize)

        samples = {"cat": [], "zip": [], "cat_file": [], "file": []}
        cold = {"cat": [], "zip": [], "zip_hashed": []}
        can_drop = drop_caches()
        for _ in range(args.rounds):
            samples["cat"].append(timed_cat(data["blobs"]))
            seconds, received = curl(zip_url, data["token"])
            assert received > size, "the zip must hold every byte"
            samples["zip"].append(seconds)
            samples["cat_file"].append(timed_cat([largest_blob]))
            seconds, received = curl(file_url, data["token"])
            assert received == os.path.getsize(largest_blob)
            samples["file"].append(seconds)
            if can_drop:
                drop_caches()
                cold["cat"].append(timed_cat(data["blobs"]))
                drop_caches()
                cold["zip"].append(curl(zip_url, data["token"])[0])
                # The other fail-closed design: hash every byte of every download.
                manage(env, "shell", "-v0", "-c", FORGET_CHECKS)
                drop_caches()
                cold["zip_hashed"].append(curl(zip_url, data["token"])[0])
        peak = worker_peak_rss_kib(server.pid)

        headers = {"Authorization": f"Token {data['token']}"}
        latencies = []
        for _ in range(50):
            request = urllib.request.Request(f"{base}/api/models", headers=headers)
            start = time.perf_counter()
            with urllib.request.urlopen(request) as response:
                payload = json.load(response)
            latencies.append((time.perf_counter() - start) * 1000)
        assert payload["count"] == args.models + 1

        median = {k: statistics.median(v) for k, v in samples.items()}
        gib = size / 2**30
        file_gib = os.path.getsize(largest_blob) / 2**30
        print(
            f"\nVersion of {gib:.2f} GiB in {len(data['blobs'])} files; "
            f"{args.rounds} rounds; medians"
        )
        print(
            f"  cat blobs > /dev/null      {median['cat']:6.2f} s  {gib / median['cat']:6.2f} GiB/s"
        )
        print(
            f"  curl ZIP via gunicorn      {median['zip']:6.2f} s  {gib / median['zip']:6.2f} GiB/s"
            f"  ratio {median['cat'] / median['zip']:.2f}"
        )
        print(
            f"  cat largest file           {median['cat_file']:6.2f} s  "
            f"{file_gib / median['cat_file']:6.2f} GiB/s"
        )
        print(
            f"  curl largest file          {median['file']:6.2f} s  "
            f"{file_gib / median['file']:6.2f} GiB/s  "
            f"ratio {median['cat_file'] / median['file']:.2f}"
        )
        if can_drop:
            cold_median = {k: statistics.median(v) for k, v in cold.items()}
            print("  cold page cache (caches dropped before each):")
            print(
                f"  cat blobs > /dev/null      {cold_median['cat']:6.2f} s  "
                f"{gib / cold_median['cat']:6.2f} GiB/s"
            )
            print(
                f"  curl ZIP via gunicorn      {cold_median['zip']:6.2f} s  "
                f"{gib / cold_median['zip']:6.2f} GiB/s  "
                f"ratio {cold_median['cat'] / cold_median['zip']:.2f}"
            )
            print(
                f"  same, hashing every byte   {cold_median['zip_hashed']:6.2f} s  "
                f"{gib / cold_median['zip_hashed']:6.2f} GiB/s  "
                f"ratio {cold_median['cat'] / cold_median['zip_hashed']:.2f}"
            )
            for name in ("cat", "zip", "zip_hashed"):
                print(f"    samples {name}: " + " ".join(f"{v:.2f}" for v in cold[name]))
        else:
            print("  (cold page cache not measured: /proc/sys/vm/drop_caches is not writable)")
        print(f"  gunicorn worker peak RSS   {peak / 1024:.0f} MiB")
        latencies.sort()
        p95 = latencies[int(0.95 * len(latencies))]
        print(
            f"\nGET /api/models with {args.models + 1} models, {args.versions + 1} versions: "
            f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms"
        )
        print(f"\nRATIO zip download / cat, warm cache = {median['cat'] / median['zip']:.2f}")
        if can_drop:
            print(
                f"RATIO zip download / cat, cold cache = "
                f"{cold_median['cat'] / cold_median['zip']:.2f} (goal >= 0.8)"
            )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
