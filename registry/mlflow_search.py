"""MLflow's search language, the part registry searches use: `name = 'x' AND tags.k != 'v'`.

A filter is clauses joined by AND (MLflow has no OR). Each clause is an identifier, a comparator
and a value:

    name | run_id | version_number | tags.<key> | tag.`<key with dots>`
    =  !=  <>  LIKE  ILIKE  IN (...)  NOT IN (...)   (and < <= > >= on numbers)
    'single' or "double" quoted strings ('' escapes a quote), integers, ('a', 'b') lists

Clauses are evaluated in Python over records (`{"name": ..., "tags": {...}}`): a missing tag
satisfies only `!=` and `NOT IN`, as MLflow's own stores answer the client's
`tag.`mlflow.prompt.is_prompt` != 'true'`. LIKE is matched in O(len * len), never by a regular
expression a hostile pattern could make backtrack. No Django here.
"""

import re
from dataclasses import dataclass

MAX_FILTER_LENGTH = 4096
ERROR_FILTER = "Invalid filter {filter!r}: {reason}"

TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
     |(?P<backquoted>`[^`]*`)
     |(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
     |(?P<number>-?[0-9]+)
     |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
TEXT_COMPARATORS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
NUMBER_COMPARATORS = {"=", "!=", "<", "<=", ">", ">="}


class FilterError(ValueError):
    """A filter, order or page token that cannot be understood; the message says why."""


@dataclass(frozen=True)
class Clause:
    """One `identifier comparator value` of a filter; `key` is set for tags."""

    field: str
    comparator: str
    value: object
    key: str | None = None

    def matches(self, record: dict) -> bool:
        """Return whether `record` satisfies this clause."""
        actual = record["tags"].get(self.key) if self.field == "tags" else record.get(self.field)
        if actual is None:
            return self.comparator in ("!=", "NOT IN")
        if isinstance(self.value, int) and not isinstance(actual, int):
            return False
        if self.field == "name" and self.comparator in ("=", "!=", "IN", "NOT IN"):
            # Model names are unique ignoring case, and looked up that way everywhere.
            value = self.value
            folded = (
                value.casefold() if isinstance(value, str) else tuple(v.casefold() for v in value)
            )
            return compare(actual.casefold(), self.comparator, folded)
        return compare(actual, self.comparator, self.value)


def compare(actual, comparator: str, value) -> bool:
    """Return `actual <comparator> value`; LIKE and ILIKE by pattern."""
    if comparator == "=":
        return actual == value
    if comparator == "!=":
        return actual != value
    if comparator == "LIKE":
        return like(actual, value)
    if comparator == "ILIKE":
        return like(actual.casefold(), value.casefold())
    if comparator == "IN":
        return actual in value
    if comparator == "NOT IN":
        return actual not in value
    return {
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }[comparator]


def like(text: str, pattern: str) -> bool:
    """Return whether `text` matches SQL LIKE `pattern` (`%` any run, `_` one character)."""
    t = p = 0
    star, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("_", text[t]) and pattern[p] != "%":
            t, p = t + 1, p + 1
        elif p < len(pattern) and pattern[p] == "%":
            star, star_t = p, t
            p += 1
        elif star >= 0:
            star_t += 1
            t, p = star_t, star + 1
        else:
            return False
    return all(c == "%" for c in pattern[p:])


def tokens(text: str) -> list[tuple[str, str]]:
    """Return the (kind, text) tokens of a filter; raise FilterError on anything else."""
    found, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        match = TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise FilterError(f"unexpected {text[at : at + 20].strip()!r}")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def unquote(token: str) -> str:
    """Return a quoted string's content: `'it''s'` is `it's`."""
    quote = token[0]
    return token[1:-1].replace(quote * 2, quote)


def parse_filter(text: str | None, *, fields: dict[str, type]) -> list[Clause]:
    """Return the clauses of `text`; `fields` maps each allowed identifier to `str` or `int`."""
    text = (text or "").strip()
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(
            ERROR_FILTER.format(filter=text[:60] + "...", reason="longer than 4096 characters")
        )
    try:
        return Parser(tokens(text), fields).clauses()
    except FilterError as exc:
        raise FilterError(ERROR_FILTER.format(filter=text[:200], reason=exc)) from None


class Parser:
    """A recursive-descent reading of `clause (AND clause)*` over the tokens."""

    def __init__(self, items: list[tuple[str, str]], fields: dict[str, type]):
        self.items, self.at, self.fields = items, 0, fields

    def peek(self) -> tuple[str, str]:
        return self.items[self.at] if self.at < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        item = self.peek()
        self.at += 1
        return item

    def clauses(self) -> list[Clause]:
        if not self.items:
            return []
        found = [self.clause()]
        while self.peek()[0] != "end":
            kind, text = self.take()
            if kind != "word" or text.upper() != "AND":
                raise FilterError(f"expected AND, found {text!r} (only AND joins clauses)")
            found.append(self.clause())
        return found

    def clause(self) -> Clause:
        field, key = self.identifier()
        comparator = self.comparator()
        kind = self.fields.get(field)
        if kind is int:
            if comparator not in NUMBER_COMPARATORS:
                raise FilterError(f"{field} takes {', '.join(sorted(NUMBER_COMPARATORS))}")
            number_kind, number = self.take()
            if number_kind != "number":
                raise FilterError(f"{field} is compared with a number, not {number!r}")
            return Clause(field, comparator, int(number[:20]))
        if comparator not in TEXT_COMPARATORS:
            raise FilterError(f"{field} takes {', '.join(sorted(TEXT_COMPARATORS))}")
        if comparator in ("IN", "NOT IN"):
            return Clause(field, comparator, self.string_list(), key)
        return Clause(field, comparator, self.string(), key)

    def identifier(self) -> tuple[str, str | None]:
        kind, text = self.take()
        if kind == "backquoted":  # `name` is allowed quoted too
            kind, text = "word", text[1:-1]
        if kind != "word":
            raise FilterError(f"expected an identifier, found {text!r}")
        prefix, _, rest = text.partition(".")
        if prefix.lower() in ("tag", "tags") and _:
            if not rest:
                key_kind, key = self.take()
                if key_kind not in ("backquoted", "string"):
                    raise FilterError("a tag key after `tags.` must be quoted or backquoted")
                rest = key[1:-1] if key_kind == "backquoted" else unquote(key)
            if "tags" not in self.fields:
                raise FilterError("tags cannot be searched here")
            return "tags", rest
        field = text.lower()
        if field not in self.fields:
            allowed = ", ".join(sorted(f for f in self.fields if f != "tags"))
            raise FilterError(f"unknown identifier {text!r} (use {allowed} or tags.<key>)")
        return field, None

    def comparator(self) -> str:
        kind, text = self.take()
        if kind == "op" and text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            return "!=" if text == "<>" else text
        upper = text.upper() if kind == "word" else ""
        if upper in ("LIKE", "ILIKE", "IN"):
            return upper
        if upper == "NOT" and self.peek()[0] == "word" and self.peek()[1].upper() == "IN":
            self.take()
            return "NOT IN"
        raise FilterError(f"expected a comparator, found {text!r}")

    def string(self) -> str:
        kind, text = self.take()
        if kind != "string":
            raise FilterError(f"expected a quoted string, found {text!r}")
        return unquote(text)

    def string_list(self) -> tuple[str, ...]:
        if self.take() != ("op", "("):
            raise FilterError("IN takes a parenthesised list of strings")
        values = [self.string()]
        while self.peek() == ("op", ","):
            self.take()
            values.append(self.string())
        if self.take() != ("op", ")"):
            raise FilterError("the list after IN is not closed")
        return tuple(values)


def parse_order_by(items, *, fields: set[str]) -> list[tuple[str, bool]]:
    """Return (field, descending) for each `field [ASC|DESC]`; raise FilterError."""
    found = []
    for item in items or ():
        words = str(item).split()
        if not words or len(words) > 2 or words[0].lower() not in fields:
            raise FilterError(
                f"Invalid order_by {str(item)[:100]!r}: use one of {', '.join(sorted(fields))}, "
                "then ASC or DESC."
            )
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise FilterError(f"Invalid order_by {str(item)[:100]!r}: ASC or DESC.")
        found.append((words[0].lower(), direction == "DESC"))
    return found
