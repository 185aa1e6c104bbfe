"""Alias gates: requirements a version's evidence must meet before an alias may point at it."""

import math
import operator
from dataclasses import dataclass

from registry.exceptions import RegistryError

OPERATORS = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
ERROR_REQUIREMENT_SHAPE = (
    'Each requirement is {{"metric": NAME, "op": one of {ops}, "value": NUMBER}}; got {got!r}.'
)


@dataclass(frozen=True)
class Requirement:
    """One metric requirement, such as `eval_loss <= 0.3`."""

    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def check(self, metrics: dict) -> str | None:
        """Return why `metrics` fail this requirement, or None when they meet it."""
        actual = metrics.get(self.metric)
        if actual is None:
            return f"{self} (the version has no {self.metric})"
        if isinstance(actual, bool) or not isinstance(actual, int | float) or math.isnan(actual):
            return f"{self} (the version's {self.metric} is {actual!r}, not a number)"
        if not OPERATORS[self.op](actual, self.value):
            return f"{self} (the version's {self.metric} is {actual:g})"
        return None


def parse_requirements(raw) -> list[Requirement]:
    """Validate requirements given as JSON; raise RegistryError naming the bad one."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RegistryError("Requirements must be a list.", code="invalid_gate")
    requirements = []
    for item in raw:
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("metric"), str)
            and item["metric"].strip()
            and item.get("op") in OPERATORS
            and isinstance(item.get("value"), int | float)
            and not isinstance(item.get("value"), bool)
            and math.isfinite(item["value"])
        )
        if not ok:
            raise RegistryError(
                ERROR_REQUIREMENT_SHAPE.format(ops=", ".join(OPERATORS), got=item),
                code="invalid_gate",
            )
        requirements.append(Requirement(item["metric"].strip(), item["op"], float(item["value"])))
    return requirements


def requirements_as_json(requirements: list[Requirement]) -> list[dict]:
    """Return requirements in the JSON shape they are stored and shown in."""
    return [{"metric": r.metric, "op": r.op, "value": r.value} for r in requirements]
