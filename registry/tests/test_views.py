import pytest

from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client):
    client.force_login(UserFactory())
    return client


def promote(artifact, *, seed, metrics):
    return ModelVersion.objects.promote(artifact, promotable_run(seed=seed, metrics=metrics))[0]


def test_pages_need_login(client):
    assert client.get("/registry/").status_code == 302


def test_model_list_renders_empty(logged_in):
    response = logged_in.get("/registry/")

    assert response.status_code == 200
    assert b"No models yet" in response.content


def test_model_list_shows_latest_version_and_count(logged_in):
    artifact = ModelArtifactFactory(name="Gemma SFT")
    promote(artifact, seed=1, metrics={})
    latest = promote(artifact, seed=2, metrics={})

    page = logged_in.get("/registry/").content.decode()

    assert "Gemma SFT" in page
    assert latest.short_digest in page


def test_model_search_as_you_type_returns_only_the_table(logged_in):
    ModelArtifactFactory(name="Gemma SFT")
    ModelArtifactFactory(name="Llama", description="Meta")

    response = logged_in.get("/registry/?q=gem", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="model-table">')
    assert "Gemma SFT" in html and "Llama" not in html


def test_model_page_lists_versions_aliases_timeline_and_events(logged_in):
    artifact = ModelArtifactFactory(name="Gemma SFT")
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.3})
    v2 = promote(artifact, seed=2, metrics={"eval_loss": 0.2})
    ModelAlias.objects.point(artifact, "production", v1)
    ModelAlias.objects.point(artifact, "production", v2, reason="lower loss")

    html = logged_in.get(f"/registry/{artifact.pk}/").content.decode()

    assert v1.short_digest in html and v2.short_digest in html
    assert "production" in html
    assert "moved v1 → v2" in html
    assert "lower loss" in html
    assert "Alias move" in html and "Promotion" in html


def test_model_page_filters_versions_by_metric_as_a_fragment(logged_in):
    artifact = ModelArtifactFactory()
    low = promote(artifact, seed=1, metrics={"eval_loss": 0.1})
    high = promote(artifact, seed=2, metrics={"eval_loss": 0.9})

    response = logged_in.get(
        f"/registry/{artifact.pk}/?metric=eval_loss&lte=0.3",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="version-table",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="version-table">')
    assert low.short_digest in html and high.short_digest not in html


def test_model_page_explains_a_bad_bound(logged_in):
    artifact = ModelArtifactFactory()

    html = logged_in.get(f"/registry/{artifact.pk}/?metric=eval_loss&lte=low").content.decode()

    assert "Bounds must be numbers" in html


def test_version_page_shows_files_digest_command_and_provenance(logged_in):
    version = promote(ModelArtifactFactory(), seed=1, metrics={"eval_loss": 0.3})

    html = logged_in.get(f"/registry/versions/{version.pk}/").content.decode()

    assert version.sha256 in html
    assert "adapter_model.safetensors" in html
    assert "LC_ALL=C sort" in html
    assert "requirements_sha256" in html


def test_html_in_names_tags_and_metric_keys_is_escaped(logged_in):
    artifact = ModelArtifactFactory(name="<script>alert('m')</script>")
    version = promote(artifact, seed=1, metrics={"<b>loss</b>": 0.1})
    version.set_tags(["x"])

    for url in ("/registry/", f"/registry/{artifact.pk}/", f"/registry/versions/{version.pk}/"):
        html = logged_in.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<b>loss</b>" not in html, url
