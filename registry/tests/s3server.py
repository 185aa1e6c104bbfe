"""A real S3-protocol server for tests and benchmarks: moto's server mode, its own process on
loopback, spoken to over HTTP by boto3 as any S3 (or MinIO) would be."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

# moto accepts any credentials; boto3 refuses to sign without some.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server(timeout: float = 60):
    """Run moto's S3 server on a free loopback port; yield its endpoint URL."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )
        yield from _serve(process, port, log, timeout)


def _serve(process, port, log, timeout):
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"moto's server stopped at start: {log.read()[-2000:]!r}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not listen on port {port}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def create_bucket(endpoint_url: str, *, versioned: bool = False) -> str:
    """Create a bucket with a fresh name on the server; return the name."""
    import boto3

    name = f"tunix-{uuid.uuid4().hex[:20]}"
    client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name
