"""Registry pages: the models, one model (versions, aliases, audit trail), one version."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from registry.choices import AliasChangeKind, EventKind, VersionStatus
from registry.exceptions import RegistryError
from registry.forms import (
    AliasGatesForm,
    AliasPointForm,
    AliasRemoveForm,
    EventKindForm,
    ModelArtifactForm,
    ModelPagePromoteForm,
    PromoteRunForm,
    RepoIdForm,
    TagsForm,
    VersionSearchForm,
)
from registry.models import AliasChange, ModelAlias, ModelArtifact, ModelVersion, RegistryEvent
from runs.lifecycle import RunStatus
from runs.models import TunixRun

MODELS_PER_PAGE = 25
VERSIONS_PER_PAGE = 25
EVENTS_PER_PAGE = 20


@login_required
def artifact_list(request):
    """List models with their latest version; HTMX search requests get only the table."""
    template = "registry/modelartifact_list.html"
    if request.htmx and request.htmx.target == "model-table":
        template += "#model-table"
    return render(request, template, list_context(request, ModelArtifactForm()))


def list_context(request, new_form) -> dict:
    """What the models page shows: a page of models matching `?q=`, and the new-model form."""
    query = request.GET.get("q", "").strip()
    artifacts = ModelArtifact.objects.listing(text=query)
    page = Paginator(artifacts, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    return {"page": page, "q": query, "new_form": new_form}


@login_required
@require_POST
@permission_required("registry.add_modelartifact", raise_exception=True)
def artifact_new(request):
    """Create a model and open it; errors are shown beside the fields without a reload."""
    form = ModelArtifactForm(request.POST)
    artifact = form.save() if form.is_valid() else None
    if artifact is not None:
        url = reverse("registry:artifact-detail", args=[artifact.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        return render(
            request, "registry/modelartifact_list.html#new-model-form", {"new_form": form}
        )
    return render(
        request, "registry/modelartifact_list.html", list_context(request, form), status=400
    )


@login_required
def artifact_detail(request, artifact_id):
    """Show a model: versions (filterable by a metric), promote form, aliases, events."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    context = artifact_context(request, artifact)
    template = "registry/modelartifact_detail.html"
    if request.htmx and request.htmx.target in (
        "version-table",
        "event-list",
        "force-field",
        "hub-access",
        "aliases",
    ):
        template += "#" + request.htmx.target
    return render(request, template, context)


def artifact_context(
    request, artifact, *, promote_form=None, repo_id_form=None, **alias_forms
) -> dict:
    """What the model page shows: versions (filtered), aliases, timeline, events, forms."""
    search = VersionSearchForm(request.GET, auto_id="search_%s")
    search_error = ""
    try:
        versions = search.versions(artifact=artifact)
    except RegistryError as exc:
        search_error = exc.message
        versions = ModelVersion.objects.search(artifact=artifact)
    searched_metric = request.GET.get("metric", "").strip()
    event_filter = EventKindForm(request.GET, auto_id="events_%s")
    events = RegistryEvent.objects.for_artifact(artifact).of_kind(event_filter.kind_or_none())
    page = Paginator(versions, VERSIONS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = [with_tags_form(version) for version in page.object_list]
    return {
        "artifact": artifact,
        "versions": page,
        "metric_column": searched_metric or shared_key_metric(page.object_list),
        "searched_metric": searched_metric,
        "search": search,
        "search_error": search_error,
        "events": Paginator(events.select_related("version"), EVENTS_PER_PAGE).get_page(
            request.GET.get("events_page")
        ),
        "event_filter": event_filter,
        "EventKind": EventKind,
        "promote_form": promote_form or ModelPagePromoteForm(initial={"artifact": artifact.pk}),
        "force_run": failed_run(request.GET.get("run")),
        **aliases_context(artifact, **alias_forms),
        **hub_context(request, artifact, repo_id_form),
    }


def tags_form(version: ModelVersion, data=None) -> TagsForm:
    """Return the inline tags form of one version row, its ids unique on the page."""
    form = TagsForm(data, initial={"tags": version.tags}, auto_id=f"tags-{version.pk}-%s")
    form.fields["tags"].label = f"Tags of {version.version}"
    return form


def with_tags_form(version: ModelVersion) -> ModelVersion:
    """Attach the row's tags form, which the version row renders on demand."""
    version.tags_form = tags_form(version)
    return version


def shared_key_metric(versions) -> str:
    """Return the key metric every listed version shares (the column's name), or ""."""
    names = {version.key_metric[0] if version.key_metric else None for version in versions}
    return names.pop() or "" if len(names) == 1 else ""


def aliases_context(artifact, *, point_form=None, gates_form=None, remove_form=None) -> dict:
    """What the aliases section shows: each alias with its gate form, the move form, history."""
    aliases = artifact.aliases.select_related("version").order_by("name")
    rows = [
        {
            "alias": alias,
            "gates_form": gates_form
            if gates_form is not None and gates_form.alias_name == alias.name
            else AliasGatesForm.for_alias(alias),
        }
        for alias in aliases
    ]
    return {
        "artifact": artifact,
        "alias_rows": rows,
        "point_form": point_form or AliasPointForm(artifact=artifact),
        "remove_form": remove_form,
        "alias_changes": AliasChange.objects.for_artifact(artifact).select_related(
            "from_version", "to_version"
        )[:50],
        "AliasChangeKind": AliasChangeKind,
    }


def hub_context(request, artifact, repo_id_form=None) -> dict:
    """What the "Use with huggingface_hub" section shows: the endpoint, revision, repo id form."""
    return {
        "artifact": artifact,
        "hf_endpoint": request.build_absolute_uri("/hf"),
        "hub_revision": artifact.hub_revision(),
        "hub_library": artifact.hub_library(),
        "repo_id_form": repo_id_form or RepoIdForm(instance=artifact),
    }


@login_required
@require_POST
@permission_required("registry.change_modelartifact", raise_exception=True)
def artifact_repo_id(request, artifact_id):
    """Change a model's repo id; the section comes back, with the refusal if any."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    form = RepoIdForm(request.POST, instance=artifact)
    saved = form.is_valid() and form.save() and not form.errors
    if request.htmx:
        if not saved:
            artifact.refresh_from_db()  # show the id still in force beside the refusal
        return render(
            request,
            "registry/modelartifact_detail.html#hub-access",
            hub_context(request, artifact, form),
            status=200 if saved else 400,
        )
    if saved:
        messages.success(request, f"The repo id is now {artifact.repo_id}.")
        return redirect("registry:artifact-detail", artifact_id=artifact.pk)
    artifact.refresh_from_db()
    return render(
        request,
        "registry/modelartifact_detail.html",
        artifact_context(request, artifact, repo_id_form=form),
        status=400,
    )


def failed_run(run_id: str | None) -> TunixRun | None:
    """Return the run with `run_id` if it failed: only then does the promote form offer force."""
    if not run_id:
        return None
    try:
        return TunixRun.objects.filter(pk=run_id, status=RunStatus.FAILED).first()
    except ValueError:
        return None


@login_required
@require_POST
def artifact_promote(request, artifact_id):
    """Promote a run from the model page: the new row appears, or the refusal in plain words."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    if not request.user.has_perm("registry.add_modelversion"):
        return render_promote_refusal(request, artifact, None, "You may not promote runs.", 403)
    form = ModelPagePromoteForm({**request.POST.dict(), "artifact": artifact.pk})
    result = form.promote(user=request.user) if form.is_valid() else None
    if result is None:
        return render_promote_refusal(request, artifact, form, None, 400)
    version, created = result
    if not request.htmx:
        verb = "Promoted" if created else "Already promoted as"
        messages.success(request, f"{verb} {version.version} (sha256:{version.short_digest}).")
        return redirect("registry:artifact-detail", artifact_id=artifact.pk)
    return render(
        request,
        "registry/partials/version_row.html",
        {"version": with_tags_form(version), "artifact": artifact, "created": created},
    )


def render_promote_refusal(request, artifact, form, message, status):
    """Show the promote form again with its refusal: in place for HTMX, else on the page."""
    form = form or ModelPagePromoteForm(initial={"artifact": artifact.pk})
    if message:
        form.add_error(None, message)
    if request.htmx:
        # A refused failed run: offer force straight away rather than after another change.
        force_run = failed_run(request.POST.get("run"))
        response = render(
            request,
            "registry/modelartifact_detail.html#promote-form",
            {"artifact": artifact, "promote_form": form, "force_run": force_run},
        )
        return reswap(retarget(response, "#promote-form"), "outerHTML")
    return render(
        request,
        "registry/modelartifact_detail.html",
        artifact_context(request, artifact, promote_form=form),
        status=status,
    )


@login_required
@require_POST
@permission_required("registry.change_modelversion", raise_exception=True)
def version_tags(request, version_id):
    """Replace a version's tags inline; the cell comes back, with the refusal if any."""
    version = get_object_or_404(ModelVersion.objects.select_related("artifact"), pk=version_id)
    form = version.tags_form = tags_form(version, request.POST)
    if form.is_valid():
        form.save(version, user=request.user)
    if request.htmx:
        return render(
            request,
            "registry/partials/version_tags.html",
            {"version": version},
        )
    if form.errors:
        messages.error(request, " ".join(form.errors.get("tags", [])))
    return redirect("registry:artifact-detail", artifact_id=version.artifact_id)


@login_required
@require_POST
def version_verify(request, version_id):
    """Re-hash a version's blobs now and show the result per file."""
    version = get_object_or_404(ModelVersion.objects.select_related("artifact"), pk=version_id)
    checks = version.verify(user=request.user)
    context = {"checks": checks, "all_ok": all(c.ok for c in checks)}
    if request.htmx:
        return render(request, "registry/partials/verification.html", context)
    return render(request, "registry/modelversion_detail.html", version_context(version) | context)


@login_required
def version_detail(request, version_id):
    """Show a version: files, metrics, config, provenance and how to check its digest."""
    version = get_object_or_404(
        ModelVersion.objects.select_related("artifact", "source_run"), pk=version_id
    )
    context = version_context(version, compare_id=request.GET.get("compare"))
    template = "registry/modelversion_detail.html"
    if request.htmx and request.htmx.target == "comparison":
        template += "#comparison"
    return render(request, template, context)


def version_context(version: ModelVersion, *, compare_id: str | None = None) -> dict:
    """What the version page shows, with a comparison when another version is chosen."""
    siblings = ModelVersion.objects.for_artifact(version.artifact).exclude(pk=version.pk)
    other = siblings.filter(pk=compare_id).first() if compare_id and compare_id.isdigit() else None
    return {
        "version": version,
        "files": version.files.all(),
        "failed_files": version.failed_files(),
        "siblings": siblings,
        "other": other,
        "comparison": version.compare(other) if other else None,
        "VersionStatus": VersionStatus,
    }


@login_required
def version_by_label(request, artifact_id, revision):
    """Open the version a label (or alias, or commit id) of one model names: audit links use it."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    try:
        version = ModelVersion.objects.at_revision(artifact, revision)
    except RegistryError as exc:
        raise Http404(exc.message) from None
    return redirect("registry:version-detail", version_id=version.pk)


@login_required
@require_POST
@permission_required("registry.move_alias", raise_exception=True)
def alias_point(request, artifact_id):
    """Point an alias at a version from the model page; a gate's refusal lists each unmet need."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    return answer_alias_form(request, artifact, AliasPointForm(request.POST, artifact=artifact))


@login_required
@require_POST
@permission_required("registry.move_alias", raise_exception=True)
def alias_remove(request, artifact_id, alias):
    """Unset an alias from the model page (its gates stay)."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    form = AliasRemoveForm(request.POST, artifact=artifact, alias_name=alias)
    return answer_alias_form(request, artifact, form)


@login_required
@require_POST
@permission_required("registry.change_alias_gates", raise_exception=True)
def alias_gates(request, artifact_id, alias):
    """Replace an alias's requirements from the model page; a refusal shows beside the fields."""
    gated = get_object_or_404(
        ModelAlias.objects.select_related("artifact"), artifact=artifact_id, name=alias
    )
    return answer_alias_form(request, gated.artifact, AliasGatesForm(request.POST, alias=gated))


def answer_alias_form(request, artifact, form):
    """Save an alias form; answer with the section in place for HTMX, else redirect or the page."""
    done = form.save(user=request.user) if form.is_valid() else None
    forms = {} if done else {form.context_name: form}
    if request.htmx:
        # 200 with the refusal in the section, as the promote form does: a refusal is an answer
        # to show in place, not a failed request for the browser's console.
        return render(
            request,
            "registry/modelartifact_detail.html#aliases",
            aliases_context(artifact, **forms),
        )
    if done:
        messages.success(request, done)
        return redirect(reverse("registry:artifact-detail", args=[artifact.pk]) + "#aliases")
    return render(
        request,
        "registry/modelartifact_detail.html",
        artifact_context(request, artifact, **forms),
        status=400,
    )


@login_required
@permission_required("registry.add_modelversion", raise_exception=True)
def run_promote(request):
    """Promote a run into a model of choice: the promote action the registry gives run pages."""
    form = PromoteRunForm(request.POST or None, initial={"run": request.GET.get("run")})
    result = (
        form.promote(user=request.user) if request.method == "POST" and form.is_valid() else None
    )
    if result is not None:
        version, created = result
        verb = "Promoted" if created else "Already promoted as"
        messages.success(request, f"{verb} {version.version} (sha256:{version.short_digest}).")
        return redirect("registry:version-detail", version_id=version.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "registry/modelversion_form.html", {"form": form}, status=status)
