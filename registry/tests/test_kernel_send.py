"""ZIP downloads under a real gunicorn (sync and gthread workers, loopback): verified blobs go by
sendfile()."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from registry.storage import BlobStore

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
pytestmark = [
    pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed"),
    pytest.mark.filesystem_store,
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scenario(tmp_path, request):
    """A store with a version of three files, all trusted, and a gunicorn serving its ZIP."""
    worker_class = getattr(request, "param", "sync")
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text('{"a": 1}')
    (source / "weights-1.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    (source / "weights-2.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    store = BlobStore(tmp_path / "store")
    stored = store.put_directory(source)
    write_scenario(tmp_path, stored.manifest, stored.identities)
    port = free_port()
    server = subprocess.Popen(
        [
            *(str(GUNICORN), "registry.tests.kernel_app:application", "-b", f"127.0.0.1:{port}"),
            *("-w", "1", "--worker-class", worker_class, "--log-level", "warning"),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "KERNEL_TEST_DIR": str(tmp_path), "DEBUG": "true"},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)
    yield tmp_path, store, stored, port
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def write_scenario(directory: Path, manifest, identities) -> None:
    (directory / "manifest.json").write_text(
        json.dumps([dataclasses.asdict(entry) for entry in manifest])
    )
    (directory / "trusted.json").write_text(
        json.dumps({d: dataclasses.asdict(i) for d, i in identities.items()})
    )


def served_log(directory: Path) -> list[str]:
    path = directory / "served.log"
    return path.read_text().splitlines() if path.exists() else []


def request(port: int, *, pause_after: int | None = None, then=None) -> tuple[int, bytes]:
    """GET the ZIP over a raw socket; return (Content-Length, body received until EOF).

    With `pause_after`, stop reading after that many bytes, call `then()`, and read the rest.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.sendall(b"GET /download HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = bytearray()
        paused = pause_after is None
        while chunk := client.recv(64 * 1024):
            received += chunk
            if not paused and len(received) >= pause_after:
                paused = True
                time.sleep(0.3)  # the server is blocked in sendfile(), the socket buffers full
                then()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return length, body


@pytest.mark.parametrize("scenario", ["sync", "gthread"], indirect=True)
def test_verified_blobs_go_by_sendfile_and_the_zip_is_whole(scenario):
    directory, store, stored, port = scenario

    length, body = request(port)

    assert len(body) == length
    archive = directory / "m.zip"
    archive.write_bytes(body)
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        for entry in stored.manifest:
            assert z.read(entry.path) == store.blob_path(entry.sha256).read_bytes()
        assert z.read("SHA256SUMS").decode().count("\n") == 3
    test = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0, test.stdout
    assert sorted(served_log(directory)) == sorted(
        [f"kernel {e.path}" for e in stored.manifest] + ["finished"]
    )


def test_an_entry_without_a_recorded_crc_goes_through_python_in_the_same_zip(scenario):
    directory, _, stored, port = scenario
    manifest = [
        dataclasses.replace(e, crc32=None) if e.path == "weights-2.bin" else e
        for e in stored.manifest
    ]
    write_scenario(directory, manifest, stored.identities)

    length, body = request(port)

    assert len(body) == length
    archive = directory / "m.zip"
    archive.write_bytes(body)
    assert subprocess.run(["unzip", "-t", str(archive)], capture_output=True).returncode == 0
    assert "python weights-2.bin" in served_log(directory)
    assert "kernel weights-1.bin" in served_log(directory)


def test_a_blob_changed_before_the_download_is_hashed_and_never_completed(scenario):
    directory, store, stored, port = scenario
    weights = next(e for e in stored.manifest if e.path == "weights-1.bin")
    with open(store.blob_path(weights.sha256), "r+b") as handle:
        handle.seek(1000)
        handle.write(b"changed after it was trusted")

    length, body = request(port)

    assert len(body) < length
    log = served_log(directory)
    assert "kernel weights-1.bin" not in log
    assert "python weights-1.bin" in log  # its identity changed: hashed, found wrong
    assert "failed weights-1.bin certain=True" in log
    assert "finished" not in log


def test_a_blob_changed_while_the_kernel_sends_it_is_never_completed(scenario):
    directory, store, stored, port = scenario
    weights = next(e for e in stored.manifest if e.path == "weights-1.bin")

    def stray_write():
        with open(store.blob_path(weights.sha256), "r+b") as handle:
            handle.seek(weights.size - 10)
            handle.write(b"!")

    length, body = request(port, pause_after=256 * 1024, then=stray_write)

    assert len(body) < length
    log = served_log(directory)
    assert "failed weights-1.bin certain=False" in log  # caught before its last chunk
    assert "kernel weights-1.bin" not in log
    assert "python weights-1.bin" not in log  # the kernel was sending it
    assert "finished" not in log
    # Its last chunk (which held the changed byte) never went.
    start = body.index(b"weights-1.bin") + len(b"weights-1.bin")
    assert len(body) - start < weights.size
