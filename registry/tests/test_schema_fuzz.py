"""Schemathesis against our own OpenAPI schema: no 500s, no response outside the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run

# Each operation gets this many generated requests: bounded so CI stays fast.
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def api_schema(db, settings_override):
    from config.wsgi import application

    # Requests go straight to the WSGI app, not Django's test client: stop it from closing the
    # test's database connection at the end of each request, as the test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def settings_override(settings):
    settings.REGISTRY_DOWNLOADS_ENABLED = True
    return settings


@pytest.fixture
def curator_token(curator):
    artifact = ModelArtifactFactory(name="fuzzed")
    ModelVersion.objects.promote(artifact, promotable_run())
    return Token.objects.create(user=curator).key


@pytest.mark.slow
def test_the_api_answers_every_generated_request_within_its_schema(api_schema, curator_token):
    # Driven by hand rather than schemathesis' pytest plugin, which does not support pytest 9 yet.
    headers = {"Authorization": f"Token {curator_token}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def exercise(case):
            case.call_and_validate(headers=headers, checks=checks)

        try:
            exercise()
        except Exception as exc:  # gathered so one run reports every failing operation
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) >= 15
    assert failures == {}, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
