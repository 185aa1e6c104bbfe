import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from runs.tests.factories import UserFactory


@pytest.fixture
def reader_client(api_client):
    """A logged-in user without registry permissions."""
    api_client.force_login(UserFactory())
    return api_client


@pytest.fixture
def curator(curators_group):
    user = UserFactory(username="curator")
    user.groups.add(curators_group)
    return user


@pytest.fixture
def curator_client(api_client, curator):
    """A member of the curators group, logged in by session."""
    api_client.force_login(curator)
    return api_client


@pytest.fixture
def curator_token_client(curator):
    """A curator authenticating with an API token, no session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=curator).key}")
    return client


@pytest.fixture
def downloads_enabled(settings):
    settings.REGISTRY_DOWNLOADS_ENABLED = True
