"""Benchmark MLflow's `download_artifacts("models:/...")` against us beside `cat`, in one run.

    .venv/bin/python bench/mlflow_download.py [--size-mib 1024] [--rounds 3] [--workers 1]

1. Promotes a full-model version of `--size-mib` (config.json, shard index, 4 random shards) into
   a model named `bench-big` and points its `production` alias at it.
2. Serves the app with gunicorn (`--workers` sync workers, as bench/download.py) on 127.0.0.1.
3. Each round, with a warm page cache (the page cache is never dropped here: the machine may be
   shared): `cat blobs > /dev/null`; `cp` of the blobs into an empty directory (what writing
   the files costs here); `curl -o /dev/null` of each file through
   `/api/2.0/mlflow-artifacts/artifacts/...` one after another (the server's share); then
   `mlflow.artifacts.download_artifacts(
   "models:/bench-big@production")` by the real mlflow-skinny client with `MLFLOW_TRACKING_URI`
   pointing at us, into an empty directory (timed inside the client process, import excluded; the
   client writes the files, as users' clients do).
4. Prints medians, spread and the ratio of the download to `cat` of the same round.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from download import (  # bench/ is the script's own directory
    bench_environment,
    curl,
    free_port,
    manage,
    serve,
    timed_cat,
    value_range,
    wait_for,
)
from promote import make_run_directory

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    import mlflow
    start = time.perf_counter()
    path = mlflow.artifacts.download_artifacts("models:/bench-big@production", dst_path=sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - start, "path": path}))
    """
)


def setup_data(env: dict, source: Path) -> dict:
    script = f"""
import json
from django.conf import settings
from rest_framework.authtoken.models import Token
from django.contrib.auth import get_user_model
from registry.models import ModelAlias, ModelArtifact, ModelVersion
from registry.storage import BlobStore
from runs.models import TunixRun
user = get_user_model().objects.create_user("bench", password="bench-password-123")
token = Token.objects.create(user=user).key
run = TunixRun.objects.register_directory({str(source)!r}, name="bench-run")
big = ModelArtifact.objects.create_artifact(name="bench-big", repo_id="bench/big")
version, _ = ModelVersion.objects.promote(big, run)
ModelAlias.objects.point(big, "production", version)
blobs = [str(p) for _, p in BlobStore(settings.MODEL_REGISTRY_PATH).iter_files(version.manifest())]
print(json.dumps({{"token": token, "blobs": blobs,
                  "files": {{e.path: e.sha256 for e in version.manifest()}}}}))
"""
    return json.loads(manage(env, "shell", "-v0", "-c", script).strip().splitlines()[-1])


def timed_download(base: str, token: str, target: Path) -> tuple[float, Path]:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=base, MLFLOW_TRACKING_TOKEN=token, NO_PROXY="127.0.0.1")
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(target)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], Path(result["path"])


def timed_copy(paths: list[str], target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    start = time.perf_counter()
    subprocess.run(["cp", *paths, str(target)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tunix-bench-mlflow-", dir=args.workdir))
    server = None
    try:
        source = work / "run"
        print(f"Writing {args.size_mib} MiB and promoting it under {work} ...", flush=True)
        make_run_directory(source, size_mib=args.size_mib, shards=4)
        env = bench_environment(work)
        manage(env, "migrate", "--noinput")
        data = setup_data(env, source)
        shutil.rmtree(source)
        size = sum(os.path.getsize(p) for p in data["blobs"])

        port = free_port()
        server = serve(env, port, workers=args.workers)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/")
        target = work / "dst"

        # Checked once: the client's files are the version's bytes.
        _, path = timed_download(base, data["token"], target)
        got = {
            p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in path.rglob("*")
            if p.is_file()
        }
        assert got == data["files"], sorted(got)

        file_urls = [
            f"{base}/api/2.0/mlflow-artifacts/artifacts/registry/bench-big/1/{path}"
            for path in data["files"]
        ]
        samples: dict[str, list[float]] = {"cat": [], "cp": [], "curl": [], "mlflow": []}
        for _ in range(args.rounds):
            timed_cat(data["blobs"])  # fill the page cache
            samples["cat"].append(timed_cat(data["blobs"]))
            samples["cp"].append(timed_copy(data["blobs"], work / "copy"))
            samples["curl"].append(sum(curl(url, data["token"])[0] for url in file_urls))
            samples["mlflow"].append(timed_download(base, data["token"], target)[0])

        gib = size / 2**30
        print(f"\nVersion of {gib:.2f} GiB in {len(data['blobs'])} files; {args.rounds} rounds")
        print("  warm page cache: median seconds (range), rate, ratio to cat (range)")
        for name, label in (
            ("cat", "cat blobs > /dev/null"),
            ("cp", "cp blobs into a directory"),
            ("curl", "curl each file, /dev/null"),
            ("mlflow", "download_artifacts"),
        ):
            median = statistics.median(samples[name])
            line = f"    {label:26s} {median:6.2f} s ({value_range(samples[name])})"
            line += f"  {gib / median:5.2f} GiB/s"
            if name != "cat":
                ratios = [c / x for c, x in zip(samples["cat"], samples[name], strict=True)]
                line += f"  ratio {statistics.median(ratios):.2f} ({value_range(ratios)})"
            print(line)
        print("\nsamples (seconds):", json.dumps(samples))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
