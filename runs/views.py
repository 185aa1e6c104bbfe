"""Run pages: the list with a status filter, and one run's config, metrics and files."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from runs.lifecycle import RunStatus
from runs.models import TunixRun

RUNS_PER_PAGE = 25


@login_required
def run_list(request):
    """Show runs newest first, filtered by status; HTMX requests get only the table."""
    status = request.GET.get("status", "")
    if status not in RunStatus.values:
        status = ""
    page = Paginator(TunixRun.objects.with_status(status).newest_first(), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    template = "runs/tunixrun_list.html"
    if request.htmx:
        template += "#run-table"
    return render(
        request, template, {"page": page, "status": status, "statuses": RunStatus.choices}
    )


@login_required
def run_detail(request, run_id):
    """Show one run: its config, metrics and output files."""
    run = get_object_or_404(TunixRun, pk=run_id)
    return render(request, "runs/tunixrun_detail.html", {"run": run, "files": run.output_files()})
