"""The SQLite backend keeps the query planner's statistics current (config/sqlite3)."""

import sqlite3

import pytest

from config.sqlite3.base import DatabaseWrapper


@pytest.fixture(autouse=True)
def own_databases(django_db_blocker):
    """These tests open SQLite files of their own, not the test database."""
    with django_db_blocker.unblock():
        yield


def wrapper_for(path) -> DatabaseWrapper:
    return DatabaseWrapper(
        {
            "ENGINE": "config.sqlite3",
            "NAME": str(path),
            "OPTIONS": {},
            "TIME_ZONE": None,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
            "USER": "",
            "PASSWORD": "",
            "HOST": "",
            "PORT": "",
            "TEST": {},
        }
    )


def a_database_with_an_indexed_table(path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metric (id INTEGER PRIMARY KEY, key TEXT, value REAL)")
        db.execute("CREATE INDEX metric_key ON metric (key)")
        db.executemany(
            "INSERT INTO metric (key, value) VALUES (?, ?)", [("loss", i) for i in range(2000)]
        )


def statistics_of(path) -> list:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if not found.fetchall():
            return []
        return db.execute("SELECT tbl, idx FROM sqlite_stat1").fetchall()


def test_closing_a_connection_analyses_the_tables_its_queries_used(tmp_path):
    path = tmp_path / "planner.sqlite3"
    a_database_with_an_indexed_table(path)
    connection = wrapper_for(path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM metric WHERE key = %s", ["loss"])
    assert statistics_of(path) == []

    connection.close()

    assert ("metric", "metric_key") in statistics_of(path)


def test_a_connection_that_ran_nothing_closes_without_analysing(tmp_path):
    path = tmp_path / "idle.sqlite3"
    a_database_with_an_indexed_table(path)
    connection = wrapper_for(path)
    connection.ensure_connection()

    connection.close()

    assert statistics_of(path) == []
