"""Domain errors say what kind of refusal they are; config maps the kinds to HTTP once."""

import pytest

from config.exceptions import DomainError, ErrorStatus
from config.http_errors import HTTP_STATUS, http_status
from registry.exceptions import (
    ALIAS_NOT_FOUND,
    ARCHIVED,
    INTEGRITY_FAILED,
    LABEL_TAKEN,
    STORAGE_FAILED,
    BlobCorruptedError,
    PromotionError,
    RegistryError,
    StorageError,
)
from tuning.exceptions import JOB_NOT_FINISHED, TuningError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RegistryError("gone", code=ALIAS_NOT_FOUND), 404),
        (PromotionError("taken", code=LABEL_TAKEN), 409),
        (RegistryError("retired", code=ARCHIVED), 410),
        (StorageError("disk full"), 503),
        # A storage error re-raised by promotion keeps its kind.
        (PromotionError("disk full", code=STORAGE_FAILED), 503),
        (BlobCorruptedError("bad", path="a", expected="0", actual=None), 409),
        (StorageError("a symlink", code="symlink_refused"), 400),
        (TuningError("running", code=JOB_NOT_FINISHED), 409),
        (DomainError("plain"), 400),
    ],
)
def test_each_error_maps_to_the_status_its_kind_names(error, status):
    assert http_status(error) == status


def test_every_kind_has_one_http_status():
    assert set(HTTP_STATUS) == set(ErrorStatus)


def test_integrity_failures_are_conflicts_not_unavailability():
    assert BlobCorruptedError.code == INTEGRITY_FAILED
    assert BlobCorruptedError("x", path="a", expected="0", actual=None).status is (
        ErrorStatus.CONFLICT
    )
