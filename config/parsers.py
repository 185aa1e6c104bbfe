"""The API's JSON parser: DRF's strict one, refusing NUL characters anywhere in the document."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

ERROR_NUL_IN_JSON = (
    "The JSON body holds a NUL character (\\u0000) at {where}; no name, label, config or metric "
    "key may hold one."
)


def find_nul(data, where: str = "$") -> str | None:
    """Return the JSON path of the first string or key holding a NUL, or None."""
    if isinstance(data, str):
        return where if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            if "\x00" in key:
                return f"{where} (a key)"
            if found := find_nul(value, f"{where}.{key}"):
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if found := find_nul(value, f"{where}[{index}]"):
                return found
    return None


class JSONParser(parsers.JSONParser):
    """Parse JSON as DRF does (NaN and Infinity refused), and refuse NUL characters.

    PostgreSQL's jsonb and text cannot hold U+0000 (a `DataError`, so a 500), SQLite can: refusing
    it here keeps both databases answering alike, with one message naming where the NUL was.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if where := find_nul(data):
            raise ParseError(ERROR_NUL_IN_JSON.format(where=where))
        return data
