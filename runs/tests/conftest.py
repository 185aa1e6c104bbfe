import pytest

from runs.tests.factories import UserFactory


@pytest.fixture
def reader_client(api_client):
    """A logged-in user with no permissions."""
    api_client.force_authenticate(UserFactory())
    return api_client


@pytest.fixture
def runs_editor_client(api_client):
    """A user allowed to add and change runs."""
    api_client.force_authenticate(
        UserFactory(permissions=["runs.add_tunixrun", "runs.change_tunixrun"])
    )
    return api_client
