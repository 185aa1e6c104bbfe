"""Registry pages: the models, one model (versions, aliases, audit trail), one version."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from registry.exceptions import RegistryError
from registry.models import AliasChange, EventKind, ModelArtifact, ModelVersion, RegistryEvent

MODELS_PER_PAGE = 25
VERSIONS_PER_PAGE = 25
EVENTS_PER_PAGE = 20


@login_required
def artifact_list(request):
    """List models with their latest version; HTMX search requests get only the table."""
    query = request.GET.get("q", "").strip()
    artifacts = (
        ModelArtifact.objects.search(query)
        .with_version_counts()
        .with_latest_version()
        .order_by("name")
    )
    page = Paginator(artifacts, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    template = "registry/modelartifact_list.html"
    if request.htmx:
        template += "#model-table"
    return render(request, template, {"page": page, "q": query})


@login_required
def artifact_detail(request, artifact_id):
    """Show a model: versions (filterable by a metric), aliases with their timeline, events."""
    artifact = get_object_or_404(ModelArtifact, pk=artifact_id)
    search = {
        "metric": request.GET.get("metric", "").strip(),
        "lte": request.GET.get("lte", "").strip(),
        "gte": request.GET.get("gte", "").strip(),
        "order": request.GET.get("order", ""),
    }
    search_error = ""
    try:
        versions = ModelVersion.objects.search(
            artifact=artifact,
            metric=search["metric"] or None,
            lte=float(search["lte"]) if search["lte"] else None,
            gte=float(search["gte"]) if search["gte"] else None,
            order=search["order"] if search["metric"] else None,
        )
    except (ValueError, RegistryError):
        search_error = "Bounds must be numbers, such as 0.3."
        versions = ModelVersion.objects.search(artifact=artifact)
    versions_page = Paginator(versions, VERSIONS_PER_PAGE).get_page(request.GET.get("page"))
    kind = request.GET.get("kind", "")
    events = RegistryEvent.objects.for_artifact(artifact).of_kind(
        kind if kind in EventKind.values else None
    )
    context = {
        "artifact": artifact,
        "versions": versions_page,
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
    }
    template = "registry/modelartifact_detail.html"
    if request.htmx and request.htmx.target in ("version-table", "event-list"):
        template += "#" + request.htmx.target
    return render(request, template, context)


@login_required
def version_detail(request, version_id):
    """Show a version: files, metrics, config, provenance and how to check its digest."""
    version = get_object_or_404(
        ModelVersion.objects.select_related("artifact", "source_run"), pk=version_id
    )
    return render(
        request,
        "registry/modelversion_detail.html",
        {"version": version, "files": version.files.all()},
    )
