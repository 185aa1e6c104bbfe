"""Search spaces as JSON, validated field by field and mapped onto Ray Tune's own functions.

    {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
     "rank": {"type": "choice", "values": [4, 8, 16]}}

Types: `choice` and `grid` (`values`), `uniform` and `loguniform` (`low` < `high`; loguniform needs
`low` > 0), `randint` (whole `low` <= value < whole `high`).
"""

import math

from tuning.exceptions import TuningError

TYPES = ("choice", "grid", "uniform", "loguniform", "randint")


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parameter_error(spec) -> str | None:
    """Return what is wrong with one parameter's spec, or None."""
    if not isinstance(spec, dict):
        return 'must be an object such as {"type": "choice", "values": [4, 8]}'
    kind = spec.get("type")
    if kind not in TYPES:
        return f"type must be one of {', '.join(TYPES)}; got {kind!r}"
    if kind in ("choice", "grid"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            return f"{kind} needs a non-empty list of values"
        return None
    low, high = spec.get("low"), spec.get("high")
    if not (is_number(low) and is_number(high)):
        return f"{kind} needs numeric low and high"
    if not low < high:
        return f"{kind} needs low < high; got low={low}, high={high}"
    if kind == "loguniform" and low <= 0:
        return "loguniform needs low > 0"
    if kind == "randint" and not (isinstance(low, int) and isinstance(high, int)):
        return "randint needs whole numbers for low and high (high excluded)"
    return None


def validate(space) -> dict:
    """Return `space` if every parameter is valid; raise TuningError with one error per field."""
    if not isinstance(space, dict) or not space:
        raise TuningError(
            "The search space must be a non-empty JSON object of parameters.",
            code="invalid_search_space",
            errors={"search_space": "must be a non-empty object"},
        )
    errors = {
        f"search_space.{name}": problem
        for name, spec in space.items()
        if (problem := parameter_error(spec))
    }
    if errors:
        raise TuningError(
            "Invalid search space: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            code="invalid_search_space",
            errors=errors,
        )
    return space


def to_ray(space: dict) -> dict:
    """Return the Ray Tune `param_space` for a validated search space."""
    from ray import tune  # imported here: Ray is heavy, and only the worker needs it

    builders = {
        "choice": lambda s: tune.choice(s["values"]),
        "grid": lambda s: tune.grid_search(s["values"]),
        "uniform": lambda s: tune.uniform(s["low"], s["high"]),
        "loguniform": lambda s: tune.loguniform(s["low"], s["high"]),
        "randint": lambda s: tune.randint(s["low"], s["high"]),
    }
    return {name: builders[spec["type"]](spec) for name, spec in space.items()}
