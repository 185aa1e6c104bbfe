"""The store lock: shared holders coexist, an exclusive one waits for all of them, nothing leaks."""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from registry.locks import store_lock

BASE_DIR = Path(__file__).resolve().parents[2]
# Every wait in these tests is bounded by this, so a lock that never comes fails instead of hanging.
TIMEOUT = 20
# How long a holder that should be blocked is given to (wrongly) get the lock.
BLOCKED = 0.5

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: advisory locks, real connections"
)
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="on SQLite the store lock is an flock"
)


class Holder:
    """Take the store lock on a thread of its own, so on a connection of its own, until let go."""

    def __init__(self, *, exclusive: bool):
        self.acquired = threading.Event()
        self.error: Exception | None = None
        self._let_go = threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(exclusive,), daemon=True)
        self._thread.start()

    def _hold(self, exclusive: bool) -> None:
        try:
            with connection.cursor() as cursor:
                # PostgreSQL gives up on a lock after this: a holder never waits forever.
                cursor.execute(f"SET lock_timeout = '{TIMEOUT}s'")
            with store_lock(exclusive=exclusive):
                self.acquired.set()
                self._let_go.wait(TIMEOUT)
        except Exception as exc:  # asserted on by let_go()
            self.error = exc
        finally:
            connection.close()

    def let_go(self) -> None:
        """Leave the lock and check that holding it went without an error."""
        self._let_go.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()
        assert self.error is None


def advisory_waiters() -> int:
    """Return how many sessions of this database wait for an advisory lock now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
            "WHERE locktype = 'advisory' AND NOT granted AND d.datname = current_database()"
        )
        return cursor.fetchone()[0]


def held_by_this_session() -> int:
    """Return how many advisory locks this thread's connection holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def wait_until(predicate) -> bool:
    """Poll `predicate` until it holds or TIMEOUT passes; return whether it held."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db
def test_two_shared_holders_on_separate_connections_hold_the_lock_at_once():
    first = Holder(exclusive=False)
    assert first.acquired.wait(TIMEOUT)

    second = Holder(exclusive=False)

    assert second.acquired.wait(TIMEOUT)
    first.let_go()
    second.let_go()


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db
def test_an_exclusive_holder_waits_until_every_shared_holder_has_let_go():
    first, second = Holder(exclusive=False), Holder(exclusive=False)
    assert first.acquired.wait(TIMEOUT) and second.acquired.wait(TIMEOUT)

    collector = Holder(exclusive=True)

    assert not collector.acquired.wait(BLOCKED)
    first.let_go()
    assert not collector.acquired.wait(BLOCKED)
    second.let_go()
    assert collector.acquired.wait(TIMEOUT)
    collector.let_go()


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db
def test_a_shared_request_queues_behind_a_waiting_exclusive_one_so_gc_is_not_starved():
    promotion = Holder(exclusive=False)
    assert promotion.acquired.wait(TIMEOUT)
    collector = Holder(exclusive=True)
    assert wait_until(lambda: advisory_waiters() == 1)

    later_promotion = Holder(exclusive=False)

    assert not later_promotion.acquired.wait(BLOCKED)
    promotion.let_go()
    assert collector.acquired.wait(TIMEOUT)
    assert not later_promotion.acquired.is_set()
    collector.let_go()
    assert later_promotion.acquired.wait(TIMEOUT)
    later_promotion.let_go()


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db
def test_the_lock_is_released_when_the_block_raises():
    with pytest.raises(RuntimeError), store_lock(exclusive=True):
        raise RuntimeError("the collector failed midway")

    assert held_by_this_session() == 0
    other = Holder(exclusive=True)
    assert other.acquired.wait(TIMEOUT)
    other.let_go()


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_lock_is_released_when_the_block_breaks_its_transaction():
    # An aborted transaction refuses the unlock statement itself: only ending the session helps.
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        store_lock(exclusive=True),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")

    other = Holder(exclusive=True)
    assert other.acquired.wait(TIMEOUT)
    other.let_go()
    assert held_by_this_session() == 0


@sqlite_only
def test_on_sqlite_the_flock_excludes_another_process(tmp_path):
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n"
            "from registry.locks import store_lock\n"
            "print('waiting', flush=True)\n"
            "with store_lock(exclusive=False):\n"
            "    print('acquired', flush=True)\n",
        ],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'child.sqlite3'}",
            "MODEL_REGISTRY_PATH": str(settings.MODEL_REGISTRY_PATH),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in child.stdout]).start()
    try:
        with store_lock(exclusive=True):
            assert lines.get(timeout=TIMEOUT) == "waiting"
            with pytest.raises(queue.Empty):
                lines.get(timeout=BLOCKED)

        assert lines.get(timeout=TIMEOUT) == "acquired"
    finally:
        child.kill()
        child.wait(TIMEOUT)
