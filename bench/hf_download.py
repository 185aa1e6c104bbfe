"""Benchmark `snapshot_download` through our Hub protocol against `cat` and our ZIP, in one run.

    .venv/bin/python bench/hf_download.py [--size-mib 2048] [--rounds 5] [--workers 1]

1. Promotes a full-model version of `--size-mib` (config.json, shard index, 4 random shards) into
   a model with repo id `bench/big`, and points its `production` alias at it.
2. Serves the app with gunicorn (`--workers` sync workers, as bench/download.py) on 127.0.0.1.
3. Each round, with the page cache dropped before each measurement (root only; otherwise warm):
   `cat blobs > /dev/null`, `curl -o /dev/null` of the version's ZIP, `curl` of each file through
   `/hf/.../resolve/production/<path>` one after another (the protocol's server side alone), and
   `snapshot_download("bench/big", revision="production")` by the real huggingface_hub client with
   `HF_ENDPOINT` pointing at us, into an empty cache (timed inside the client process, import
   excluded; the client writes the files into its cache, as users' clients do). Then the same
   four with a warm page cache.
4. Prints medians, spread and the ratio of each download to `cat` of the same round (goal for the
   Hub protocol: >= 0.8x cold), and the gunicorn workers' peak resident memory.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from download import (  # bench/ is the script's own directory
    bench_environment,
    curl,
    drop_caches,
    free_port,
    manage,
    serve,
    timed_cat,
    value_range,
    wait_for,
    worker_peak_rss_kib,
)
from promote import make_run_directory

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    from huggingface_hub import snapshot_download
    start = time.perf_counter()
    path = snapshot_download("bench/big", revision="production")
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
print(json.dumps({{"version": version.pk, "token": token, "blobs": blobs,
                  "files": {{e.path: e.sha256 for e in version.manifest()}}}}))
"""
    return json.loads(manage(env, "shell", "-v0", "-c", script).strip().splitlines()[-1])


def timed_snapshot(base: str, token: str, home: Path) -> tuple[float, Path]:
    shutil.rmtree(home, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_ENDPOINT=f"{base}/hf",
        HF_HOME=str(home),
        HF_TOKEN=token,
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    out = subprocess.run(
        [sys.executable, "-c", CLIENT], env=env, check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], Path(result["path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tunix-bench-hf-", dir=args.workdir))
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
        zip_url = f"{base}/api/models/versions/{data['version']}/download"
        home = work / "hf-home"

        # Checked once: the client's files are the version's bytes.
        _, snapshot = timed_snapshot(base, data["token"], home)
        got = {
            p.relative_to(snapshot).as_posix(): p.stat().st_size
            for p in snapshot.rglob("*")
            if p.is_file()
        }
        assert sorted(got) == sorted(data["files"]), got
        assert sum(got.values()) == size

        can_drop = drop_caches()
        kinds = ["cold", "warm"] if can_drop else ["warm"]
        samples = {kind: {"cat": [], "zip": [], "curl_hf": [], "hf": []} for kind in kinds}
        resolve_urls = [f"{base}/hf/bench/big/resolve/production/{path}" for path in data["files"]]
        for _ in range(args.rounds):
            for kind in kinds:
                cold = kind == "cold"
                if not cold:
                    timed_cat(data["blobs"])  # fill the page cache
                drop_caches() if cold else None
                samples[kind]["cat"].append(timed_cat(data["blobs"]))
                drop_caches() if cold else None
                seconds, received = curl(zip_url, data["token"])
                assert received > size, "the zip must hold every byte"
                samples[kind]["zip"].append(seconds)
                drop_caches() if cold else None
                # The protocol's file route alone, one file after another: the server's share.
                samples[kind]["curl_hf"].append(
                    sum(curl(url, data["token"])[0] for url in resolve_urls)
                )
                drop_caches() if cold else None
                samples[kind]["hf"].append(timed_snapshot(base, data["token"], home)[0])
        peak = worker_peak_rss_kib(server.pid)

        gib = size / 2**30
        print(f"\nVersion of {gib:.2f} GiB in {len(data['blobs'])} files; {args.rounds} rounds")
        for kind in kinds:
            s = samples[kind]
            print(f"  {kind} page cache: median seconds (range), rate, ratio to cat (range)")
            for name, label in (
                ("cat", "cat blobs > /dev/null"),
                ("zip", "curl ZIP via gunicorn"),
                ("curl_hf", "curl each file via /hf"),
                ("hf", "snapshot_download via /hf"),
            ):
                median = statistics.median(s[name])
                line = f"    {label:27s} {median:6.2f} s ({value_range(s[name])})"
                line += f"  {gib / median:5.2f} GiB/s"
                if name != "cat":
                    ratios = [c / x for c, x in zip(s["cat"], s[name], strict=True)]
                    line += f"  ratio {statistics.median(ratios):.2f} ({value_range(ratios)})"
                print(line)
        print(f"  gunicorn worker peak RSS      {peak / 1024:.0f} MiB")
        print("\nsamples (seconds):", json.dumps(samples))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
