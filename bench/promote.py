"""Benchmark promotion against the hashing and durable-copy limits measured in the same run.

    .venv/bin/python bench/promote.py [--size-mib 2048] [--shards 4] [--workdir DIR]
    .venv/bin/python bench/promote.py --store s3://bucket/prefix [--s3-endpoint URL]

Makes a full-model run directory (`config.json`, a shard index and N safetensors-named shards of
random bytes), then measures over the same files, with the page cache equally warm for each:

- `openssl dgst -sha256` over the files (the hashing limit: OpenSSL uses the CPU's SHA
  instructions, as hashlib does),
- `cp -r` followed by `sync` (the durable-copy limit),
- the first promotion (hash, copy, fsync, record), in a child process,
- the repeat promotion (the idempotent path, which must write no blob),

and prints each time, the promotion's ratio to the larger baseline (goal: <= 1.25) and the
promotion's peak resident memory (goal: flat in file size).

With `--store s3://...` the registry keeps its blobs in that bucket (moto's S3 server, started
for the run on loopback, unless `--s3-endpoint` names another), and the baselines are boto3's own:
`upload_file` of the same files beside the first promotion (goal: <= 1.25), and `get_object` of
each file, read to its end, beside the version's ZIP download through gunicorn (goal: >= 0.8).
(`download_fileobj`'s concurrent ranged GETs took 123 s for 2 GiB from moto: not a baseline.)
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

    from registry.models import ModelArtifact, ModelVersion
    from registry.stores import blob_store
    from runs.models import TunixRun

    artifact = ModelArtifact.objects.filter(
        name__iexact=artifact_name
    ).first() or ModelArtifact.objects.create_artifact(name=artifact_name)
    run = TunixRun.objects.filter(output_dir=run_dir).first()
    if run is None:
        run = TunixRun.objects.register_directory(run_dir, name="bench-run")
    store = blob_store()
    blobs_before = stored_identities(store)
    start = time.perf_counter()
    version, created = ModelVersion.objects.promote(artifact, run)
    elapsed = time.perf_counter() - start
    blobs_after = stored_identities(store)
    written = sum(1 for digest, seen in blobs_after.items() if blobs_before.get(digest) != seen)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "created": created,
                "digest": version.sha256,
                "version": version.pk,
                "blobs_written": written,
            }
        )
    )


def stored_identities(store) -> dict:
    """Return each stored blob's identity: a blob written again gets a new one."""
    from registry.storage import BlobStore

    if isinstance(store, BlobStore):
        found = store.blobs.glob("*/*") if store.blobs.exists() else []
        return {p.name: store.identity(p.name) for p in found}
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=f"{store.prefix}blobs/"
    )
    return {
        item["Key"].rsplit("/", 1)[-1]: (item["ETag"], item["LastModified"])
        for page in pages
        for item in page.get("Contents", [])
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="Medians are over this many rounds.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--store", default="", help="s3://bucket/prefix: an S3 store instead")
    parser.add_argument("--s3-endpoint", default="", help="S3 API URL (default: start moto's)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.store:
        bench_s3(args)
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


def empty_prefix(client, bucket: str, prefix: str) -> None:
    """Delete every object under `prefix` of `bucket`."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def bench_s3(args) -> None:
    """Promotion into, and the ZIP download from, an S3 store beside boto3's own transfers."""
    import contextlib

    import boto3

    sys.path.insert(0, str(BASE_DIR))
    from download import bench_environment, curl, free_port, serve, wait_for

    from registry.s3store import parse_storage_url
    from registry.tests.s3server import CREDENTIALS, moto_server

    bucket, prefix = parse_storage_url(args.store)
    work = Path(tempfile.mkdtemp(prefix="tunix-bench-", dir=args.workdir))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        endpoint = args.s3_endpoint
        if not endpoint:
            os.environ.update(CREDENTIALS)
            endpoint = stack.enter_context(moto_server())
            print(f"moto's S3 server at {endpoint}", flush=True)
        client = boto3.client("s3", endpoint_url=endpoint)
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        source = work / "run"
        print(f"Writing {args.size_mib} MiB in {args.shards} shards under {work} ...", flush=True)
        files = make_run_directory(source, size_mib=args.size_mib, shards=args.shards)
        total = sum(p.stat().st_size for p in files)
        gib = total / 2**30
        env = {
            **bench_environment(work),
            "REGISTRY_S3_ENDPOINT_URL": endpoint,
            "REGISTRY_S3_REGION": client.meta.region_name,
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            env=env,
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        samples = {"upload": [], "first": [], "repeat": [], "get": [], "zip": []}
        first_rss = 0
        for round_number in range(1, args.rounds + 1):
            # Each round's store is a fresh prefix, so the first promotion writes every blob.
            round_env = {
                **env,
                "REGISTRY_STORAGE_URL": f"s3://{bucket}/{prefix}round-{round_number}",
            }
            artifact = f"bench-s3-{round_number}"

            def plain_upload(round_number=round_number):
                warm(files)
                start = time.perf_counter()
                for path in files:
                    key = f"{prefix}plain-{round_number}/{path.name}"
                    client.upload_file(str(path), bucket, key)
                samples["upload"].append(time.perf_counter() - start)

            def promotion(artifact=artifact, round_env=round_env):
                warm(files)
                first, rss = run_child(["--child", str(source), artifact], round_env)
                samples["first"].append(first["seconds"])
                return first, rss

            # Alternate which goes first: moto spools what it holds to disk, so the second of
            # a pair writes beside the first's still-dirty pages.
            if round_number % 2:
                plain_upload()
                first, rss = promotion()
            else:
                first, rss = promotion()
                plain_upload()
            first_rss = max(first_rss, rss)
            repeat, _ = run_child(["--child", str(source), artifact], round_env)
            samples["repeat"].append(repeat["seconds"])
            assert first["created"] and not repeat["created"] and repeat["blobs_written"] == 0

            start = time.perf_counter()
            for path in files:
                key = f"{prefix}plain-{round_number}/{path.name}"
                for _ in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(2**20):
                    pass
            samples["get"].append(time.perf_counter() - start)
            token = subprocess.run(
                [sys.executable, "manage.py", "shell", "-v0", "-c", TOKEN_SCRIPT],
                env=round_env,
                cwd=BASE_DIR,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
            port = free_port()
            server = serve(round_env, port)
            try:
                wait_for(f"http://127.0.0.1:{port}/api/")
                url = f"http://127.0.0.1:{port}/api/models/versions/{first['version']}/download"
                seconds, size = curl(url, token)
                assert size > total, size
                samples["zip"].append(seconds)
            finally:
                os.killpg(server.pid, 15)
                server.wait()
            # Every round starts against a store holding the same: nothing but empty prefixes.
            empty_prefix(client, bucket, prefix)

        median = {name: statistics.median(values) for name, values in samples.items()}
        labels = {
            "upload": "boto3 upload_file",
            "first": "promotion (first)",
            "repeat": "promotion (repeat)",
            "get": "boto3 get_object",
            "zip": "ZIP download (gunicorn)",
        }
        print(
            f"\n{gib:.2f} GiB in {len(files)} files to {endpoint}, {os.cpu_count()} CPUs, "
            f"{args.rounds} rounds"
        )
        for name, label in labels.items():
            seconds = median[name]
            all_samples = " ".join(f"{v:.2f}" for v in samples[name])
            print(f"  {label:<26} {seconds:7.2f}s  {gib / seconds:6.2f} GiB/s  {all_samples}")
        print(f"  peak RSS of the first promotion: {first_rss / 1024:.0f} MiB")
        print(
            f"\nRATIO first promotion / boto3 upload = {median['first'] / median['upload']:.2f}"
            " (goal <= 1.25)"
        )
        print(
            f"RATIO ZIP download rate / boto3 download rate = {median['get'] / median['zip']:.2f}"
            " (goal >= 0.8)"
        )


# A curator's API token for the ZIP download (any user may download; this one is created once).
TOKEN_SCRIPT = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user, _ = get_user_model().objects.get_or_create(username="bench")
print(Token.objects.get_or_create(user=user)[0].key)
"""


if __name__ == "__main__":
    main()
