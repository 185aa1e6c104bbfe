"""The version search form: one parser for the model page's filter and the API's search."""

import pytest

from registry.exceptions import INVALID_SEARCH, RegistryError
from registry.forms import ERROR_NOT_A_NUMBER, ERROR_ORDER_NEEDS_METRIC, VersionSearchForm


@pytest.mark.parametrize("bound", ["nan", "NaN", "inf", "-Infinity", "low"])
@pytest.mark.parametrize("name", ["lte", "gte"])
def test_search_refuses_a_bound_that_is_not_a_finite_number(name, bound):
    form = VersionSearchForm({"metric": "eval_loss", name: bound})

    with pytest.raises(RegistryError) as refused:
        form.versions()

    assert refused.value.code == INVALID_SEARCH
    assert ERROR_NOT_A_NUMBER in refused.value.message


def test_search_refuses_ordering_by_metric_without_one():
    with pytest.raises(RegistryError) as refused:
        VersionSearchForm({"order": "metric"}).versions()

    assert ERROR_ORDER_NEEDS_METRIC in refused.value.message


def test_search_reads_bounds_with_spaces_as_numbers():
    form = VersionSearchForm({"metric": " eval_loss ", "lte": " 0.3 ", "gte": ""})

    assert form.is_valid()
    assert (form.cleaned_data["metric"], form.cleaned_data["lte"]) == ("eval_loss", 0.3)
    assert form.cleaned_data["gte"] is None
