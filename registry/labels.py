"""Rules for version labels and tags: short, path-safe names."""

import re

from registry.exceptions import RegistryError

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# `latest` always means the newest ready version, so no label or alias may take it.
RESERVED_LABELS = frozenset({".", "..", "latest"})
ERROR_LABEL_SHAPE = (
    "The {what} {value!r} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'."
)
ERROR_LABEL_RESERVED = "The {what} {value!r} is reserved."


def validate_label(value, *, what: str = "version label") -> str:
    """Return `value` if it is a valid label or tag; raise RegistryError naming the rule."""
    code = "invalid_" + what.split()[-1]
    if not isinstance(value, str) or not LABEL_PATTERN.match(value):
        raise RegistryError(ERROR_LABEL_SHAPE.format(what=what, value=value), code=code)
    if value in RESERVED_LABELS:
        raise RegistryError(ERROR_LABEL_RESERVED.format(what=what, value=value), code=code)
    return value


def normalize_tags(tags) -> list[str]:
    """Validate tags and return them de-duplicated, in the order given."""
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list | tuple):
        raise RegistryError("Tags must be a list of strings.", code="invalid_tag")
    result: list[str] = []
    for tag in tags or ():
        validate_label(tag, what="tag")
        if tag not in result:
            result.append(tag)
    return result
