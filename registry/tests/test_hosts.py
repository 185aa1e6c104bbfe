"""Several hosts: two gunicorn processes, each with its own environment and media folder, against
one PostgreSQL database and one blob store (a directory, or a bucket of moto's S3 server), as
docs/deployment.md ("Several hosts") deploys them.

The two processes run on one machine here, so they could also share an flock; the test that holds
the store lock from a bare PostgreSQL session shows that they coordinate through the database.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token

from registry.locks import STORE_LOCK_KEY
from registry.models import ModelVersion
from registry.tests.blobs import StoredBlob
from registry.tests.factories import ModelArtifactFactory, promotable_run
from registry.tests.s3server import CREDENTIALS

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
TIMEOUT = 60

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: one database that several hosts share",
    ),
    pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn is not installed"),
    # The hosts are other processes: they only see committed rows.
    pytest.mark.django_db(transaction=True),
]


@dataclass
class Answer:
    status: int
    body: dict


@dataclass
class Host:
    """One application host: its gunicorn's address and the environment it runs with."""

    name: str
    port: int
    env: dict
    token: str

    def post(self, path: str, body: dict) -> Answer:
        """POST JSON to this host's API with the curator's token; return the answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                return Answer(response.status, json.load(response))
        except urllib.error.HTTPError as error:
            return Answer(error.code, json.load(error))

    def promote(self, artifact, run) -> Answer:
        """Promote `run` into `artifact` through this host's API."""
        return self.post(
            f"/api/models/{artifact.pk}/versions/promote", {"source_run_id": str(run.pk)}
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command on this host: a process with the host's environment."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """Return the URL of the test database this process uses, for the hosts to use too."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST'] or 'localhost'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture(params=["filesystem", "s3"])
def store_environment(request, settings) -> dict:
    """The blob store both hosts share, as the environment variables that name it: a directory,
    or a bucket of moto's S3 server (this process uses the same one)."""
    if request.param == "s3":
        request.getfixturevalue("s3_store")
        return {
            "REGISTRY_STORAGE_URL": settings.REGISTRY_STORAGE_URL,
            "REGISTRY_S3_ENDPOINT_URL": settings.REGISTRY_S3_ENDPOINT_URL,
            "REGISTRY_S3_REGION": settings.REGISTRY_S3_REGION,
            **CREDENTIALS,
        }
    return {"MODEL_REGISTRY_PATH": str(settings.MODEL_REGISTRY_PATH)}


def host_environment(media: Path, store_environment: dict, settings) -> dict:
    """Return a production-like host's environment: shared database and store, its own media."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "hosts-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media),
        # Runs' output directories are shared like the store: any host may promote any run.
        "RUN_ROOTS": str(settings.RUNS_ROOT),
        "LOG_LEVEL": "WARNING",
        **store_environment,
    }


def serve(env: dict, port: int) -> subprocess.Popen:
    """Start gunicorn (one gthread worker, four threads) on 127.0.0.1:`port`, in its own session."""
    server = subprocess.Popen(
        [
            *(str(GUNICORN), "config.wsgi", "-b", f"127.0.0.1:{port}"),
            *("-w", "1", "--worker-class", "gthread", "--threads", "4"),
            *("--timeout", str(TIMEOUT), "--log-level", "warning"),
        ],
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/", timeout=5).close()
            return server
        except urllib.error.HTTPError:
            return server  # answering, if only that we are not logged in
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                stop(server)
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=TIMEOUT)


@pytest.fixture
def hosts(tmp_path, settings, store_environment, curator):
    """Hosts A and B: two gunicorns sharing the database and the store, not their media."""
    token = Token.objects.create(user=curator).key
    started: list[Host] = []
    servers: list[subprocess.Popen] = []
    try:
        for name in ("a", "b"):
            env = host_environment(tmp_path / f"host-{name}" / "media", store_environment, settings)
            port = free_port()
            servers.append(serve(env, port))
            started.append(Host(name, port, env, token))
        yield started
    finally:
        for server in servers:
            stop(server)


def at_once(calls: list) -> list:
    """Make the calls from threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return results


def verified_versions() -> str:
    out = StringIO()
    call_command("verify_version", "--all", stdout=out)
    return out.getvalue()


def test_the_same_run_promoted_through_both_hosts_at_once_makes_one_version(hosts):
    a, b = hosts
    artifact = ModelArtifactFactory()

    for seed in range(4):
        run = promotable_run(seed=seed)
        answers = at_once([lambda h=h, r=run: h.promote(artifact, r) for h in (a, b, a, b)])

        assert sorted(answer.status for answer in answers) == [200, 200, 200, 201]
        assert len({(answer.body["id"], answer.body["sha256"]) for answer in answers}) == 1
        assert ModelVersion.objects.filter(source_run=run).count() == 1
    assert sorted(ModelVersion.objects.values_list("version", flat=True)) == [
        "v1",
        "v2",
        "v3",
        "v4",
    ]


def test_gc_on_one_host_while_the_other_promotes_loses_nothing(hosts, settings):
    a, b = hosts
    artifact = ModelArtifactFactory()
    orphan = StoredBlob("ab" * 32)
    orphan.write_bytes(b"left behind by a crash")
    stop_promoting = threading.Event()
    promoted, refusals = [], []

    def promote_in_a_loop():
        seed = 0
        while not stop_promoting.is_set():
            run = promotable_run(seed=seed)
            seed += 1
            # A collection with no grace may take an in-flight promotion's blobs: the promotion
            # then refuses to record a version (blob_missing, or its temporary file gone) and
            # the client retries, as the refusal says. It must never record a broken one.
            for _ in range(5):
                answer = b.promote(artifact, run)
                if answer.status in (200, 201):
                    promoted.append(run.pk)
                    break
                refusals.append(answer)
        connection.close()

    promoter = threading.Thread(target=promote_in_a_loop)
    promoter.start()
    try:
        collections = [a.manage("registry_gc", "--grace-seconds", "0") for _ in range(3)]
    finally:
        stop_promoting.set()
        promoter.join(TIMEOUT)

    assert [c.returncode for c in collections] == [0, 0, 0], [c.stderr for c in collections]
    assert not orphan.exists()
    assert {r.body.get("code") for r in refusals} <= {"blob_missing", "storage_failed"}
    assert len(promoted) > len(collections)
    assert ModelVersion.objects.ready().count() == len(promoted)
    assert verified_versions().count(": ok") == len(promoted)


def advisory_waiters(cursor) -> int:
    """Return how many sessions of the test database wait for an advisory lock now."""
    cursor.execute(
        "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
        "WHERE locktype = 'advisory' AND NOT granted AND d.datname = current_database()"
    )
    return cursor.fetchone()[0]


def test_a_promotion_on_either_host_waits_while_a_session_elsewhere_holds_the_gc_lock(hosts):
    a, b = hosts
    artifact = ModelArtifactFactory()
    runs = [promotable_run(seed=1), promotable_run(seed=2)]
    answers: list = []
    # A bare PostgreSQL session, as a third host collecting garbage would hold it.
    with (
        psycopg.connect(database_url(), autocommit=True) as collector,
        collector.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_advisory_lock(%s)", [STORE_LOCK_KEY])
        promotions = [
            threading.Thread(target=lambda h=h, r=r: answers.append(h.promote(artifact, r)))
            for h, r in zip((a, b), runs, strict=True)
        ]
        for promotion in promotions:
            promotion.start()
        deadline = time.monotonic() + TIMEOUT
        while advisory_waiters(cursor) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

        assert advisory_waiters(cursor) == 2
        assert answers == []
        assert ModelVersion.objects.count() == 0
        cursor.execute("SELECT pg_advisory_unlock(%s)", [STORE_LOCK_KEY])
    for promotion in promotions:
        promotion.join(TIMEOUT)

    assert [answer.status for answer in answers] == [201, 201]
    assert ModelVersion.objects.count() == 2
