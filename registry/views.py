"""Registry pages: the models, one model (versions, aliases, audit trail), one version."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from registry.choices import EventKind
from registry.exceptions import RegistryError
from registry.forms import (
    ModelArtifactForm,
    PromoteRunForm,
    RepoIdForm,
    TagsForm,
    VersionSearchForm,
)
from registry.models import AliasChange, ModelArtifact, ModelVersion, RegistryEvent
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
    if form.is_valid():
        try:
            artifact = form.save()
        except RegistryError as exc:
            form.add_error("name", exc.message)
        else:
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
    ):
        template += "#" + request.htmx.target
    return render(request, template, context)


def artifact_context(request, artifact, *, promote_form=None, repo_id_form=None) -> dict:
    """What the model page shows: versions (filtered), aliases, timeline, events, forms."""
    search = {
        "metric": request.GET.get("metric", "").strip(),
        "lte": request.GET.get("lte", "").strip(),
        "gte": request.GET.get("gte", "").strip(),
        "order": request.GET.get("order", ""),
    }
    search_error = ""
    try:
        versions = VersionSearchForm(request.GET).versions(artifact=artifact)
    except RegistryError as exc:
        search_error = exc.message
        versions = ModelVersion.objects.search(artifact=artifact)
    kind = request.GET.get("kind", "")
    events = RegistryEvent.objects.for_artifact(artifact).of_kind(
        kind if kind in EventKind.values else None
    )
    return {
        "artifact": artifact,
        "versions": Paginator(versions, VERSIONS_PER_PAGE).get_page(request.GET.get("page")),
        "search": search,
        "search_error": search_error,
        "aliases": artifact.aliases.select_related("version").order_by("name"),
        "alias_changes": AliasChange.objects.for_artifact(artifact).select_related(
            "from_version", "to_version"
        )[:50],
        "events": Paginator(events.select_related("version"), EVENTS_PER_PAGE).get_page(
            request.GET.get("events_page")
        ),
        "event_kinds": EventKind.choices,
        "kind": kind,
        "promote_form": promote_form or PromoteRunForm(initial={"artifact": artifact.pk}),
        "force_run": failed_run(request.GET.get("run")),
        **hub_context(request, artifact, repo_id_form),
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
        return TunixRun.objects.filter(pk=run_id, status="failed").first()
    except ValueError:
        return None


@login_required
@require_POST
def artifact_promote(request, artifact_id):
    """Promote a run from the model page: the new row appears, or the refusal in plain words."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    if not request.user.has_perm("registry.add_modelversion"):
        return render_promote_refusal(request, artifact, None, "You may not promote runs.", 403)
    form = PromoteRunForm({**request.POST.dict(), "artifact": artifact.pk})
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
        {"version": version, "artifact": artifact, "created": created},
    )


def render_promote_refusal(request, artifact, form, message, status):
    form = form or PromoteRunForm(initial={"artifact": artifact.pk})
    if message:
        form.add_error(None, message)
    if request.htmx:
        response = render(
            request,
            "registry/modelartifact_detail.html#promote-form",
            {"artifact": artifact, "promote_form": form},
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
    form = TagsForm(request.POST)
    if form.is_valid():
        form.save(version, user=request.user)
    if request.htmx:
        return render(
            request, "registry/partials/version_tags.html", {"version": version, "tags_form": form}
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
    }
