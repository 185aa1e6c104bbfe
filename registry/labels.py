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
    # fullmatch: `$` alone would let a trailing newline through ("v1\n").
    if not isinstance(value, str) or not LABEL_PATTERN.fullmatch(value):
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


# The Hub's rule for a repo id (huggingface_hub's validate_repo_id): `name` or `namespace/name`,
# each part 1 to 96 of these characters, not starting or ending with `.` or `-`.
REPO_ID_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
REPO_ID_PATTERN = re.compile(rf"(?:{REPO_ID_PART}/)?{REPO_ID_PART}")
REPO_ID_MAX_LENGTH = 96 * 2 + 1
# `/hf/api/...` is the protocol's own prefix: a namespace `api` would shadow it.
RESERVED_REPO_NAMESPACES = frozenset({"api"})
ERROR_REPO_ID_SHAPE = (
    "The repo id {value!r} is not allowed: use `name` or `namespace/name`, each 1 to 96 letters, "
    "digits, '.', '_' or '-', not starting or ending with '.' or '-', without '--' or '..'."
)
ERROR_REPO_ID_RESERVED = "The repo id {value!r} is reserved: {namespace!r} cannot be a namespace."


def validate_repo_id(value) -> str:
    """Return `value` if it is a valid Hub repo id; raise RegistryError naming the rule."""
    if (
        not isinstance(value, str)
        or not REPO_ID_PATTERN.fullmatch(value)
        or "--" in value
        or ".." in value
    ):
        raise RegistryError(ERROR_REPO_ID_SHAPE.format(value=value), code="invalid_repo_id")
    namespace = value.split("/")[0] if "/" in value else ""
    if namespace.lower() in RESERVED_REPO_NAMESPACES:
        raise RegistryError(
            ERROR_REPO_ID_RESERVED.format(value=value, namespace=namespace),
            code="invalid_repo_id",
        )
    return value


def repo_id_from_name(name: str) -> str:
    """Return a repo id made from a model name: lower case, runs of anything else become `-`."""
    slug = re.sub(r"[^a-z0-9._]+", "-", name.lower())
    slug = re.sub(r"\.{2,}", ".", slug).strip("-.")[:96].strip("-.")
    return slug or "model"
