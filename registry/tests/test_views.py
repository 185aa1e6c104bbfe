import pytest

from registry.models import ModelAlias, ModelArtifact, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client):
    client.force_login(UserFactory())
    return client


def promote(artifact, *, seed, metrics):
    return ModelVersion.objects.promote(artifact, promotable_run(seed=seed, metrics=metrics))[0]


def gate(artifact, *requirements: tuple[str, str, float], alias: str = "production"):
    """Give `alias` of `artifact` the requirements (metric, op, value)."""
    return ModelAlias.objects.set_gates(
        artifact,
        alias,
        requirements=[{"metric": m, "op": op, "value": v} for m, op, v in requirements],
    )


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

    response = logged_in.get(
        "/registry/?q=gem", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="model-table"
    )

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


@pytest.fixture
def curator_client(client, curators_group):
    user = UserFactory(username="cura")
    user.groups.add(curators_group)
    client.force_login(user)
    return client


def test_a_new_model_with_a_taken_name_shows_the_error_inline(curator_client):
    ModelArtifactFactory(name="Gemma SFT")

    response = curator_client.post(
        "/registry/new", {"name": "gemma sft", "description": ""}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<form id="new-model-form"')
    assert "already exists" in html


def test_a_new_model_opens_its_page(curator_client):
    response = curator_client.post(
        "/registry/new", {"name": "Fresh", "task_type": "chat"}, HTTP_HX_REQUEST="true"
    )

    artifact = ModelArtifact.objects.get(name="Fresh")
    assert response["HX-Redirect"] == f"/registry/{artifact.pk}/"


def test_promoting_from_the_model_page_returns_the_new_row(curator_client):
    artifact = ModelArtifactFactory()
    run = promotable_run(metrics={"eval_loss": 0.25})

    response = curator_client.post(
        f"/registry/{artifact.pk}/promote",
        {"run": str(run.id), "version": "", "tags": "candidate"},
        HTTP_HX_REQUEST="true",
    )

    version = ModelVersion.objects.get()
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="version-{version.pk}"')
    assert "eval_loss=0.2500" in html
    assert version.tags == ["candidate"]


def test_a_refused_promotion_is_shown_in_the_form_in_plain_words(curator_client):
    artifact = ModelArtifactFactory()
    run = promotable_run()
    run.status = "failed"
    run.save()

    response = curator_client.post(
        f"/registry/{artifact.pk}/promote", {"run": str(run.id)}, HTTP_HX_REQUEST="true"
    )

    assert response["HX-Retarget"] == "#promote-form"
    assert "promote it anyway only with force" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_without_javascript_a_promotion_redirects_with_a_message(curator_client):
    artifact = ModelArtifactFactory()

    response = curator_client.post(
        f"/registry/{artifact.pk}/promote", {"run": str(promotable_run().id)}, follow=True
    )

    assert "Promoted v1" in response.content.decode()


def test_the_force_checkbox_appears_only_for_a_failed_run(curator_client):
    artifact = ModelArtifactFactory()
    good = promotable_run(seed=1)
    bad = promotable_run(seed=2)
    bad.status = "failed"
    bad.save()

    def force_field(run):
        return curator_client.get(
            f"/registry/{artifact.pk}/?run={run.id}",
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="force-field",
        ).content.decode()

    assert 'name="force"' not in force_field(good)
    assert 'name="force"' in force_field(bad)


def test_tags_are_edited_inline(curator_client):
    version = promote(ModelArtifactFactory(), seed=1, metrics={})

    response = curator_client.post(
        f"/registry/versions/{version.pk}/tags",
        {"tags": "production, reviewed"},
        HTTP_HX_REQUEST="true",
    )

    version.refresh_from_db()
    assert version.tags == ["production", "reviewed"]
    assert 'value="production, reviewed"' in response.content.decode()


def test_a_bad_tag_is_refused_inline(curator_client):
    version = promote(ModelArtifactFactory(), seed=1, metrics={})

    response = curator_client.post(
        f"/registry/versions/{version.pk}/tags", {"tags": "../etc"}, HTTP_HX_REQUEST="true"
    )

    assert "is not allowed" in response.content.decode()
    version.refresh_from_db()
    assert version.tags == []


def test_readers_cannot_edit_tags(logged_in):
    version = promote(ModelArtifactFactory(), seed=1, metrics={})

    assert logged_in.post(f"/registry/versions/{version.pk}/tags", {"tags": "x"}).status_code == 403


def test_verify_now_shows_the_result_per_file(logged_in):
    version = promote(ModelArtifactFactory(), seed=1, metrics={})

    response = logged_in.post(f"/registry/versions/{version.pk}/verify", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "All 2 files intact." in html
    assert "adapter_model.safetensors" in html


def test_comparing_two_versions_shows_metric_differences_and_file_changes(logged_in):
    artifact = ModelArtifactFactory()
    first = promote(artifact, seed=1, metrics={"eval_loss": 0.5})
    second = promote(artifact, seed=2, metrics={"eval_loss": 0.3})

    response = logged_in.get(
        f"/registry/versions/{first.pk}/?compare={second.pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="comparison",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="comparison">')
    assert "-0.20000" in html
    assert "changed <span" in html and "adapter_model.safetensors" in html


@pytest.mark.parametrize(
    "url",
    ["/runs/", "/registry/", "/tuning/", "/tuning/new", "/registry/?page=40", "/admin/"],
)
def test_pages_render_with_an_empty_database(client, url):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(url).status_code == 200


def test_the_models_page_pages_through_a_thousand_models(logged_in, django_assert_max_num_queries):
    ModelArtifact.objects.bulk_create(ModelArtifact(name=f"model-{i:04d}") for i in range(1000))

    with django_assert_max_num_queries(8):
        first = logged_in.get("/registry/")
    last = logged_in.get("/registry/?page=40")

    assert "Page 1 of 40" in first.content.decode()
    assert "model-0999" in last.content.decode()
    assert "model-0000" not in last.content.decode()


# ---- the model page's Hub section ---------------------------------------------------------------


def test_model_page_shows_the_lines_to_pull_the_production_version(logged_in):
    artifact = ModelArtifactFactory(repo_id="acme/gemma-sft")
    version = promote(artifact, seed=1, metrics={})
    ModelAlias.objects.point(artifact, "production", version)

    page = logged_in.get(f"/registry/{artifact.pk}/").content.decode()

    assert 'snapshot_download("acme/gemma-sft", revision="production")' in page
    assert "export HF_ENDPOINT=http://testserver/hf" in page
    assert 'PeftModel.from_pretrained(base_model, "acme/gemma-sft", revision="production")' in page


def test_a_curator_changes_the_repo_id(client, curators_group):
    curator = UserFactory()
    curator.groups.add(curators_group)
    client.force_login(curator)
    artifact = ModelArtifactFactory(repo_id="acme/old")

    client.post(f"/registry/{artifact.pk}/repo-id", {"repo_id": "acme/new"})

    artifact.refresh_from_db()
    assert artifact.repo_id == "acme/new"


def test_an_invalid_repo_id_is_refused_beside_the_field(client, curators_group):
    curator = UserFactory()
    curator.groups.add(curators_group)
    client.force_login(curator)
    artifact = ModelArtifactFactory(repo_id="acme/old")

    response = client.post(
        f"/registry/{artifact.pk}/repo-id", {"repo_id": "acme/bad--id"}, HTTP_HX_REQUEST="true"
    )

    artifact.refresh_from_db()
    assert (response.status_code, artifact.repo_id) == (400, "acme/old")
    assert (
        'id="hub-access"' in response.content.decode() and "<html" not in response.content.decode()
    )


def test_a_reader_cannot_change_the_repo_id(logged_in):
    artifact = ModelArtifactFactory(repo_id="acme/old")

    response = logged_in.post(f"/registry/{artifact.pk}/repo-id", {"repo_id": "acme/new"})

    artifact.refresh_from_db()
    assert (response.status_code, artifact.repo_id) == (403, "acme/old")


def test_model_page_refuses_a_nan_bound_as_the_api_does(logged_in):
    artifact = ModelArtifactFactory()
    promote(artifact, seed=1, metrics={"eval_loss": 0.2})

    html = logged_in.get(f"/registry/{artifact.pk}/?metric=eval_loss&lte=nan").content.decode()

    assert "Bounds must be numbers" in html


def test_the_versions_table_names_the_shared_key_metric_in_its_header(logged_in):
    artifact = ModelArtifactFactory()
    promote(artifact, seed=1, metrics={"eval_loss": 0.4980})

    html = logged_in.get(f"/registry/{artifact.pk}/").content.decode()

    assert '<th scope="col" class="nowrap">eval_loss</th>' in html
    assert ">0.4980</td>" in html


def test_tags_are_edited_in_a_form_that_opens_on_demand(curator_client):
    artifact = ModelArtifactFactory()
    version = promote(artifact, seed=1, metrics={})

    html = curator_client.get(f"/registry/{artifact.pk}/").content.decode()

    assert f'<summary aria-label="Edit the tags of {version.version}">Edit</summary>' in html
    assert f'id="tags-{version.pk}-tags"' in html


def test_the_audit_trail_reads_as_sentences_with_links(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.3})
    v2 = promote(artifact, seed=2, metrics={"eval_loss": 0.2})
    ModelAlias.objects.point(artifact, "production", v1)
    ModelAlias.objects.point(artifact, "production", v2, reason="lower loss")
    gate(artifact)
    gate(artifact, ("eval_loss", "<=", 0.25))

    html = curator_client.get(
        f"/registry/{artifact.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="event-list"
    ).content.decode()

    link = f'<a href="/registry/{artifact.pk}/versions/v1">v1</a>'
    assert f"moved the alias <strong>production</strong> from {link} to" in html
    assert "lower loss" in html
    assert 'requires from none to <span class="nowrap">eval_loss &lt;= 0.25</span>.' in html
    assert "{'requirements'" not in html and "{&#x27;" not in html


def test_an_audit_link_opens_the_version_by_its_label(logged_in):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={})

    response = logged_in.get(f"/registry/{artifact.pk}/versions/v1")

    assert response.status_code == 302
    assert response["Location"] == f"/registry/versions/{v1.pk}/"
    assert logged_in.get(f"/registry/{artifact.pk}/versions/v9").status_code == 404


def test_a_curator_moves_an_alias_from_the_model_page(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.3})

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases",
        {"alias": "production", "version": v1.pk, "reason": "first"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="aliases"')
    assert ModelAlias.objects.resolve(artifact, "production") == v1
    assert "set to v1" in html and "first" in html


def test_a_gate_refusal_lists_each_unmet_requirement_with_its_value(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.49, "accuracy": 0.5})
    gate(artifact, ("eval_loss", "<=", 0.3), ("accuracy", ">=", 0.9))

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases",
        {"alias": "production", "version": v1.pk},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200  # an answer shown in place
    assert "production cannot point at v1: its gate requires" in html
    assert "<li>eval_loss &lt;= 0.3 (the version&#x27;s eval_loss is 0.49)</li>" in html
    assert "<li>accuracy &gt;= 0.9 (the version&#x27;s accuracy is 0.5)</li>" in html
    assert ModelAlias.objects.get(artifact=artifact, name="production").version is None


def test_without_javascript_a_refused_move_shows_the_page_with_the_refusal(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.49})
    gate(artifact, ("eval_loss", "<=", 0.3))

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases", {"alias": "production", "version": v1.pk}
    )

    assert response.status_code == 400
    assert "the version&#x27;s eval_loss is 0.49" in response.content.decode()


def test_a_curator_edits_a_gate_from_the_model_page(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={"eval_loss": 0.3})
    ModelAlias.objects.point(artifact, "production", v1)

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases/production/gates",
        {
            "gates-production-requirements": "eval_loss <= 0.35\naccuracy >= 0.5",
            "gates-production-reason": "stricter",
        },
        HTTP_HX_REQUEST="true",
    )

    alias = ModelAlias.objects.get(artifact=artifact, name="production")
    assert alias.requirements == [
        {"metric": "eval_loss", "op": "<=", "value": 0.35},
        {"metric": "accuracy", "op": ">=", "value": 0.5},
    ]
    assert "requirements changed" in response.content.decode()


def test_a_bad_requirement_line_is_refused_beside_the_field(curator_client):
    artifact = ModelArtifactFactory()
    gate(artifact)

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases/production/gates",
        {"gates-production-requirements": "eval_loss about 0.3"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert "Write one requirement a line" in html
    assert '<details class="popover" open>' in html
    assert ModelAlias.objects.get(artifact=artifact, name="production").requirements == []


def test_a_curator_removes_an_alias_from_the_model_page(curator_client):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={})
    ModelAlias.objects.point(artifact, "production", v1)

    response = curator_client.post(
        f"/registry/{artifact.pk}/aliases/production/remove", follow=True
    )

    assert "production no longer points at a version." in response.content.decode()
    assert ModelAlias.objects.get(artifact=artifact, name="production").version is None


def test_readers_cannot_move_aliases_or_edit_gates(logged_in):
    artifact = ModelArtifactFactory()
    v1 = promote(artifact, seed=1, metrics={})

    moved = logged_in.post(f"/registry/{artifact.pk}/aliases", {"alias": "p", "version": v1.pk})
    gated = logged_in.post(f"/registry/{artifact.pk}/aliases/p/gates", {})

    assert moved.status_code == gated.status_code == 403
    assert "Move alias" not in logged_in.get(f"/registry/{artifact.pk}/").content.decode()


def test_a_run_is_promoted_into_a_model_of_choice_from_the_registry_page(curator_client):
    artifact = ModelArtifactFactory(name="Chosen")
    run = promotable_run(seed=3)

    form = curator_client.get(f"/registry/promote?run={run.id}").content.decode()
    response = curator_client.post(
        "/registry/promote", {"artifact": artifact.pk, "run": str(run.id), "tags": "a, b"}
    )

    version = ModelVersion.objects.get(artifact=artifact)
    assert f'<option value="{run.id}" selected>' in form
    assert response["Location"] == f"/registry/versions/{version.pk}/"
    assert version.tags == ["a", "b"]


def test_event_pages_keep_the_kind_filter_and_swap_in_place(logged_in):
    artifact = ModelArtifactFactory()
    version = promote(artifact, seed=1, metrics={})
    for n in range(25):
        version.set_tags([f"t{n}"])

    html = logged_in.get(
        f"/registry/{artifact.pk}/?kind=tag_change",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="event-list",
    ).content.decode()

    assert 'href="?kind=tag_change&amp;events_page=2"' in html
    assert 'hx-target="#event-list"' in html and ">Older</a>" in html
