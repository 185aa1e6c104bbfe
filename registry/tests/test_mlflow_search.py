"""MLflow's search language as registry/mlflow_search.py reads it (no database)."""

import pytest

from registry.mlflow_search import Clause, FilterError, like, parse_filter, parse_order_by

FIELDS = {"name": str, "run_id": str, "version_number": int, "tags": str}


def record(**fields):
    return {"name": "gemma-sft", "run_id": "r1", "version_number": 3, "tags": {}, **fields}


def matches(text: str, item: dict) -> bool:
    return all(clause.matches(item) for clause in parse_filter(text, fields=FIELDS))


def test_the_clients_prompt_clause_parses_and_passes_models_without_the_tag():
    clauses = parse_filter("tag.`mlflow.prompt.is_prompt` != 'true'", fields=FIELDS)

    assert clauses == [Clause("tags", "!=", "true", key="mlflow.prompt.is_prompt")]
    assert clauses[0].matches(record())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'gemma-sft'", True),
        ("name = 'GEMMA-SFT'", True),  # names are unique ignoring case
        ("name != 'gemma-sft'", False),
        ("name LIKE 'gemma%'", True),
        ("name LIKE 'GEMMA%'", False),
        ("name ILIKE 'GEMMA%'", True),
        ("name LIKE 'gemma_sft'", True),
        ("name IN ('a', 'gemma-sft')", True),
        ("name NOT IN ('a', 'gemma-sft')", False),
        ("run_id = 'r1' AND version_number >= 3", True),
        ("version_number < 3", False),
        ("tags.reviewed = ''", False),
        ('tags."team" = "nlp"', False),
        ("name = 'it''s'", False),
    ],
)
def test_clauses_match_as_mlflow_stores_do(text, expected):
    assert matches(text, record()) is expected


def test_tags_match_by_key_and_value():
    item = record(tags={"reviewed": "", "tunix_rt.label": "v3"})

    assert matches("tags.reviewed = '' and tags.`tunix_rt.label` = 'v3'", item)
    assert not matches("tags.`tunix_rt.label` LIKE 'v1%'", item)


def test_a_quote_doubled_is_one_quote():
    assert parse_filter("name = 'it''s'", fields=FIELDS)[0].value == "it's"


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("abc", "a%", True),
        ("abc", "%c", True),
        ("abc", "a_c", True),
        ("abc", "a_", False),
        ("", "%", True),
        ("a%c", "a%%c", True),
        ("a" * 200, "%a" * 300 + "%b", False),
    ],
)
def test_like(text, pattern, expected):
    assert like(text, pattern) is expected


@pytest.mark.parametrize(
    "text",
    [
        "name",
        "name =",
        "name == 'a'",
        "name = 'a' OR name = 'b'",
        "x = 'a'",
        "version_number = 'a'",
    ],
)
def test_bad_filters_say_why(text):
    with pytest.raises(FilterError, match="Invalid filter"):
        parse_filter(text, fields=FIELDS)


def test_an_empty_filter_is_no_clauses():
    assert parse_filter("  ", fields=FIELDS) == []
    assert parse_filter(None, fields=FIELDS) == []


def test_order_by_reads_field_and_direction():
    assert parse_order_by(["name", "version_number DESC"], fields={"name", "version_number"}) == [
        ("name", False),
        ("version_number", True),
    ]
    with pytest.raises(FilterError):
        parse_order_by(["name up"], fields={"name"})
