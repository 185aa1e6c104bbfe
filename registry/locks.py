"""The store lock: promotions hold it shared while they record a version, the garbage collector
holds it exclusive while it reads the references and deletes what nothing references.

Where it lives follows the database, because the database is what every host already shares:

- PostgreSQL: a session-level advisory lock (`pg_advisory_lock_shared` / `pg_advisory_lock`) on a
  fixed key, so it holds across every host and process that uses the same database, whatever the
  blob store is (a shared filesystem or object storage, where no file can be locked).
  PostgreSQL queues a shared request behind a waiting exclusive one, so a stream of promotions
  cannot starve the collector.
- SQLite: one host by definition, so an `flock` on `MODEL_REGISTRY_PATH/.lock`, as before.

The advisory lock is taken on Django's connection of the calling thread. Session-level rather than
transaction-level, because the holders bracket their own transactions: a promotion must still hold
it when its recording transaction commits, and the collector deletes files outside any transaction.
"""

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

STORE_LOCK_NAME = "tunix_rt.registry.store"


def advisory_key(name: str) -> int:
    """Return the signed 64-bit advisory lock key (PostgreSQL's bigint) derived from `name`."""
    # A hash rather than a hand-picked number: another application sharing the database that
    # picks its keys the same way does not collide with ours by accident.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


STORE_LOCK_KEY = advisory_key(STORE_LOCK_NAME)


@contextmanager
def store_lock(*, exclusive: bool) -> Iterator[None]:
    """Hold the store lock: shared to record versions, exclusive to collect garbage."""
    if connection.vendor == "postgresql":
        with advisory_lock(STORE_LOCK_KEY, exclusive=exclusive):
            yield
    else:
        with file_lock(Path(settings.MODEL_REGISTRY_PATH) / ".lock", exclusive=exclusive):
            yield


@contextmanager
def advisory_lock(key: int, *, exclusive: bool) -> Iterator[None]:
    """Hold PostgreSQL's session-level advisory lock `key` on this thread's connection."""
    suffix = "" if exclusive else "_shared"
    connection.ensure_connection()
    session = connection.connection
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_lock{suffix}(%s)", [key])
    try:
        yield
    finally:
        _release(key, suffix, session)


def _release(key: int, suffix: str, session) -> None:
    if connection.connection is not session or session.closed:
        # The session that took the lock has ended, and PostgreSQL released the lock with it.
        # Unlocking on the connection Django opened since would release nothing (or, were this
        # thread to hold the lock again there, someone else's hold).
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock{suffix}(%s)", [key])
    except DatabaseError:
        # The block left the transaction broken (Django refuses every statement until its atomic
        # block ends) or the connection failed. Ending the session is then the one way to release
        # the lock now rather than whenever the connection is next closed; a broken transaction
        # is rolled back either way.
        connection.close()


@contextmanager
def file_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold an `flock` on `path`, creating the file: it excludes processes of this host only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
