"""Benchmark promotion against the hashing and durable-copy limits measured in the same run.

    .venv/bin/python bench/promote.py [--size-mib 2048] [--shards 4] [--workdir DIR]

Makes a full-model run directory (`config.json`, a shard index and N safetensors-named shards of
random bytes), then measures over the same files, with the page cache equally warm for each:

- `openssl dgst -sha256` over the files (the hashing limit: OpenSSL uses the CPU's SHA
  instructions, as hashlib does),
- `cp -r` followed by `sync` (the durable-copy limit),
- the first promotion (hash, copy, fsync, record), in a child process,
- the repeat promotion (the idempotent path, which must write no blob),

and prints each time, the promotion's ratio to the larger baseline (goal: <= 1.25) and the
promotion's peak resident memory (goal: flat in file size).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CHUNK = 16 * 1024 * 1024


def make_run_directory(directory: Path, *, size_mib: int, shards: int) -> list[Path]:
    """Write config.json, a shard index and `shards` random shards totalling `size_mib` MiB."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "gemma3_text"}\n')
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    index = {"weight_map": {f"layer{i}": name for i, name in enumerate(names)}}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    per_shard = size_mib * 1024 * 1024 // shards
    for name in names:
        with open(directory / name, "wb") as out:
            left = per_shard
            while left:
                n = min(CHUNK, left)
                out.write(os.urandom(n))
                left -= n
    return sorted(directory.iterdir())


def timed(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def warm(files: list[Path]) -> None:
    """Read every file once so each measurement starts from the same (cached) state."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(CHUNK):
                pass


def run_child(args: list[str], env: dict) -> tuple[dict, int]:
    """Run this script as a child; return its JSON report and its peak RSS in KiB."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, cwd=BASE_DIR
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"child failed with exit code {process.returncode}")
    return json.loads(output), usage.ru_maxrss


def child(run_dir: str, artifact_name: str) -> None:
    """Promote `run_dir` into `artifact_name` (created on first use); print timings as JSON."""
    import django

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    from registry.models import ModelArtifact, ModelVersion
    from registry.storage import BlobStore
    from runs.models import TunixRun

    artifact = ModelArtifact.objects.filter(
        name__iexact=artifact_name
    ).first() or ModelArtifact.objects.create_artifact(name=artifact_name)
    run = TunixRun.objects.filter(output_dir=run_dir).first()
    if run is None:
        run = TunixRun.objects.register_directory(run_dir, name="bench-run")
    store = BlobStore(settings.MODEL_REGISTRY_PATH)
    blobs_before = (
        sum(1 for p in store.blobs.rglob("*") if p.is_file()) if store.blobs.exists() else 0
    )
    start = time.perf_counter()
    version, created = ModelVersion.objects.promote(artifact, run)
    elapsed = time.perf_counter() - start
    blobs_after = sum(1 for p in store.blobs.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "created": created,
                "digest": version.sha256,
                "blobs_written": blobs_after - blobs_before,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="Medians are over this many rounds.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="tunix-bench-", dir=args.workdir))
    try:
        source = work / "run"
        print(f"Writing {args.size_mib} MiB in {args.shards} shards under {work} ...", flush=True)
        files = make_run_directory(source, size_mib=args.size_mib, shards=args.shards)
        total = sum(p.stat().st_size for p in files)
        # Flush the source's own dirty pages now, or the first `sync` timed below pays for them.
        subprocess.run(["sync"], check=True)
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "MODEL_REGISTRY_PATH": str(work / "registry"),
            "RUN_ROOTS": str(work),
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            env=env,
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )

        samples = {"openssl": [], "copy": [], "first": [], "repeat": []}
        first_rss = repeat_rss = 0
        for round_number in range(1, args.rounds + 1):
            # Each round starts from an empty store, so the first promotion writes every blob.
            shutil.rmtree(work / "registry", ignore_errors=True)
            subprocess.run(["sync"], check=True)
            warm(files)
            samples["openssl"].append(timed(["openssl", "dgst", "-sha256", *map(str, files)]))
            warm(files)
            samples["copy"].append(
                timed(["cp", "-r", str(source), str(work / "copy")]) + timed(["sync"])
            )
            shutil.rmtree(work / "copy")
            subprocess.run(["sync"], check=True)
            warm(files)
            artifact = f"bench-{round_number}"
            first, rss = run_child(["--child", str(source), artifact], env)
            first_rss = max(first_rss, rss)
            samples["first"].append(first["seconds"])
            warm(files)
            repeat, rss = run_child(["--child", str(source), artifact], env)
            repeat_rss = max(repeat_rss, rss)
            samples["repeat"].append(repeat["seconds"])
            assert first["created"] and not repeat["created"]
            assert repeat["blobs_written"] == 0 and repeat["digest"] == first["digest"]

        median = {name: statistics.median(values) for name, values in samples.items()}
        baseline = max(median["openssl"], median["copy"])
        gib = total / 2**30
        labels = {
            "openssl": "openssl dgst -sha256",
            "copy": "cp -r + sync",
            "first": "promotion (first)",
            "repeat": "promotion (repeat)",
        }
        print(f"\n{gib:.2f} GiB in {len(files)} files, {os.cpu_count()} CPUs, {args.rounds} rounds")
        print(f"  {'':<22} {'median':>8}  {'rate':>10}  samples (s)")
        for name, label in labels.items():
            seconds = median[name]
            all_samples = " ".join(f"{v:.2f}" for v in samples[name])
            print(f"  {label:<22} {seconds:7.2f}s  {gib / seconds:6.2f} GiB/s  {all_samples}")
        print("  repeat promotion: created=False, blobs written=0, same digest (every round)")
        print(f"  peak RSS: first {first_rss / 1024:.0f} MiB, repeat {repeat_rss / 1024:.0f} MiB")
        print(
            f"\nRATIO first promotion / max(openssl, cp+sync) = {median['first'] / baseline:.2f}"
            " (goal <= 1.25)"
        )
        print(f"RATIO repeat promotion / max(openssl, cp+sync) = {median['repeat'] / baseline:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
