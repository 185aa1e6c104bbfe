import pytest
from django.urls import reverse

from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def version():
    version, _ = ModelVersion.objects.promote(
        ModelArtifactFactory(name="Gemma SFT"), promotable_run()
    )
    return version


def test_version_list_shows_label_digest_size_and_run(admin_client, version):
    response = admin_client.get(reverse("admin:registry_modelversion_changelist"))

    content = response.content.decode()
    assert response.status_code == 200
    assert version.short_digest in content
    assert version.source_run.name in content


def test_version_list_searches_by_digest(admin_client, version):
    url = reverse("admin:registry_modelversion_changelist")

    found = admin_client.get(url, {"q": version.sha256[:10]})
    missed = admin_client.get(url, {"q": "f" * 10})

    assert version.short_digest in found.content.decode()
    assert "0 results" in missed.content.decode()


def test_artifact_page_lists_its_versions_inline(admin_client, version):
    response = admin_client.get(
        reverse("admin:registry_modelartifact_change", args=[version.artifact_id])
    )

    assert version.short_digest in response.content.decode()


def test_ready_version_is_read_only_except_tags(admin_client, version):
    url = reverse("admin:registry_modelversion_change", args=[version.pk])

    page = admin_client.get(url).content.decode()

    assert 'name="tags"' in page
    assert 'name="metrics_json"' not in page
    assert 'name="version"' not in page


def test_tags_can_be_edited_in_the_admin(admin_client, version):
    url = reverse("admin:registry_modelversion_change", args=[version.pk])

    response = admin_client.post(
        url,
        {
            "tags": '["production"]',
            "files-TOTAL_FORMS": "0",
            "files-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    version.refresh_from_db()
    assert version.tags == ["production"]


def test_path_like_tags_are_refused_in_the_admin(admin_client, version):
    url = reverse("admin:registry_modelversion_change", args=[version.pk])

    response = admin_client.post(
        url, {"tags": '["../etc"]', "files-TOTAL_FORMS": "0", "files-INITIAL_FORMS": "0"}
    )

    assert response.status_code == 200
    assert "is not allowed" in response.content.decode()
    version.refresh_from_db()
    assert version.tags == []


def test_versions_cannot_be_deleted_or_added_directly(admin_client, version):
    delete = admin_client.get(reverse("admin:registry_modelversion_delete", args=[version.pk]))
    add = admin_client.get(reverse("admin:registry_modelversion_add"))

    assert delete.status_code == 403
    assert add.status_code == 403


def test_verify_action_reports_each_version(admin_client, version):
    response = admin_client.post(
        reverse("admin:registry_modelversion_changelist"),
        {"action": "verify_selected", "_selected_action": [version.pk]},
        follow=True,
    )

    assert "all files intact" in response.content.decode()


def test_promote_form_promotes_a_run(admin_client):
    artifact = ModelArtifactFactory()
    run = promotable_run()

    response = admin_client.post(
        reverse("admin:registry_modelversion_promote"),
        {"artifact": artifact.pk, "run": str(run.id), "version": "", "tags": "a, b"},
    )

    version = ModelVersion.objects.get()
    assert response.status_code == 302
    assert (version.version, version.tags) == ("v1", ["a", "b"])


def test_promote_form_shows_refusals_as_form_errors(admin_client):
    run = promotable_run()
    run.status = "failed"
    run.save()

    response = admin_client.post(
        reverse("admin:registry_modelversion_promote"),
        {"artifact": ModelArtifactFactory().pk, "run": str(run.id)},
    )

    assert response.status_code == 200
    assert "promote it anyway only with force" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_events_are_read_only_in_the_admin(admin_client, version):
    from registry.models import RegistryEvent

    event = RegistryEvent.objects.first()
    change = admin_client.post(
        reverse("admin:registry_registryevent_change", args=[event.pk]), {"kind": "archive"}
    )
    delete = admin_client.post(
        reverse("admin:registry_registryevent_delete", args=[event.pk]), {"post": "yes"}
    )
    listing = admin_client.get(reverse("admin:registry_registryevent_changelist"))

    assert change.status_code == 403
    assert delete.status_code == 403
    assert listing.status_code == 200
    event.refresh_from_db()
    assert event.kind == "promotion"


def test_tag_edits_in_the_admin_are_audited(admin_client, version):
    from registry.models import RegistryEvent

    admin_client.post(
        reverse("admin:registry_modelversion_change", args=[version.pk]),
        {"tags": '["production"]', "files-TOTAL_FORMS": "0", "files-INITIAL_FORMS": "0"},
    )

    event = RegistryEvent.objects.get(kind="tag_change")
    assert event.details == {"before": [], "after": ["production"]}


def test_the_admin_escapes_html_in_model_names_and_tags(admin_client):
    from registry.models import ModelVersion as Version

    artifact = ModelArtifactFactory(name="<img src=x onerror=alert(1)>")
    version, _ = Version.objects.promote(artifact, promotable_run())

    for url in (
        reverse("admin:registry_modelartifact_changelist"),
        reverse("admin:registry_modelartifact_change", args=[artifact.pk]),
        reverse("admin:registry_modelversion_changelist"),
        reverse("admin:registry_modelversion_change", args=[version.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert "<img src=x onerror=alert(1)>" not in html, url
