"""Django's SQLite backend, keeping the query planner's statistics current.

SQLite plans a query from table statistics that only `ANALYZE` gathers, and nothing runs it: a
database that grew from empty has none, and the planner then guesses. At 10,000 versions it
guessed a metric search into 20 ms of primary-key lookups (a plan that scans the versions' own
index takes 8). SQLite's advice for short-lived connections is `PRAGMA optimize` as each one
closes: it analyses only the tables the connection's queries used whose size changed a lot since
(tens of milliseconds once, a fraction of a millisecond after that).
"""

import contextlib

from django.db.backends.sqlite3 import base

# Closing must not wait on another process's write lock just to refresh statistics.
OPTIMIZE_BUSY_TIMEOUT_MS = 100


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite that runs `PRAGMA optimize` before each connection closes."""

    def _close(self):
        if self.connection is not None:
            with contextlib.suppress(base.Database.Error):
                self.connection.execute(f"PRAGMA busy_timeout = {OPTIMIZE_BUSY_TIMEOUT_MS}")
                self.connection.execute("PRAGMA optimize")
        super()._close()
