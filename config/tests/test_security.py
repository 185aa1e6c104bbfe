"""Hardening: login lockout, API throttling, security headers."""

import pytest
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def attempt_login(client, password: str):
    return client.post(
        "/accounts/login/",
        {"username": "ada", "password": password},
        REMOTE_ADDR="203.0.113.7",
    )


def test_repeated_failed_logins_lock_the_account_out(client, settings):
    UserFactory(username="ada", password="the right password 42")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt_login(client, "wrong").status_code == 200

    locked = attempt_login(client, "wrong")
    even_with_the_right_password = attempt_login(client, "the right password 42")

    assert locked.status_code == 429
    assert b"Too many failed log-in attempts" in locked.content
    assert even_with_the_right_password.status_code == 429


def test_a_successful_login_is_not_locked(client):
    UserFactory(username="ada", password="the right password 42")

    response = attempt_login(client, "the right password 42")

    assert response.status_code == 302


def test_anonymous_api_requests_are_throttled(api_client, monkeypatch):
    # Anonymous callers reach only what needs no login, such as the schema; the rest is 403 first.
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": None})

    statuses = [api_client.get("/api/schema/").status_code for _ in range(5)]

    assert statuses[:3] == [200, 200, 200]
    assert statuses[-1] == 429


def test_authenticated_api_requests_are_throttled(api_client, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": None, "user": "3/minute"})
    api_client.force_authenticate(UserFactory())

    statuses = [api_client.get("/api/models").status_code for _ in range(5)]

    assert statuses[:3] == [200, 200, 200]
    assert statuses[-1] == 429


def test_throttles_are_configured_by_default():
    assert set(api_settings.DEFAULT_THROTTLE_RATES) == {"anon", "user"}


def test_security_headers_are_set(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    client.force_login(UserFactory())

    response = client.get("/runs/", secure=True)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "max-age=31536000" in response["Strict-Transport-Security"]


def test_session_and_csrf_cookies_are_secure_in_production():
    from config import settings as project_settings

    # The defaults follow DEBUG: off in production, so cookies are secure and HTTPS is forced.
    assert project_settings.SESSION_COOKIE_SECURE is not project_settings.DEBUG
    assert project_settings.CSRF_COOKIE_SECURE is not project_settings.DEBUG
