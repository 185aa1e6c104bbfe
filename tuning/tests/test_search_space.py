import pytest

from tuning.exceptions import TuningError
from tuning.search_space import to_ray, validate


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "choice", "values": [4, 8, 16]},
        {"type": "grid", "values": [0.1, 0.01]},
        {"type": "uniform", "low": 0.0, "high": 1.0},
        {"type": "loguniform", "low": 1e-4, "high": 1e-1},
        {"type": "randint", "low": 1, "high": 10},
    ],
)
def test_each_type_is_accepted_and_mapped_to_ray(spec):
    space = {"p": spec}

    assert validate(space) == space
    assert "p" in to_ray(space)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "normal"}, "type must be one of"),
        ({"type": "choice", "values": []}, "choice needs a non-empty list"),
        ({"type": "grid"}, "grid needs a non-empty list"),
        ({"type": "uniform", "low": 1, "high": 1}, "needs low < high"),
        ({"type": "uniform", "low": "a", "high": 1}, "needs numeric low and high"),
        ({"type": "loguniform", "low": 0, "high": 1}, "loguniform needs low > 0"),
        ({"type": "randint", "low": 0.5, "high": 3}, "randint needs whole numbers"),
        ([1, 2], "must be an object"),
    ],
)
def test_each_error_names_its_field(spec, message):
    with pytest.raises(TuningError) as excinfo:
        validate({"learning_rate": spec, "rank": {"type": "choice", "values": [4]}})

    assert list(excinfo.value.errors) == ["search_space.learning_rate"]
    assert message in excinfo.value.errors["search_space.learning_rate"]


@pytest.mark.parametrize("space", [{}, [], "x", None])
def test_an_empty_or_non_object_space_is_refused(space):
    with pytest.raises(TuningError) as excinfo:
        validate(space)

    assert excinfo.value.errors == {"search_space": "must be a non-empty object"}
