"""Run pages: the list with a status filter and a launch form, and one run live."""

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from runs.charts import line_chart
from runs.forms import LaunchRunForm
from runs.lifecycle import RunStatus
from runs.models import TunixRun

RUNS_PER_PAGE = 25


@login_required
def run_list(request, launch_form=None, status_code=200):
    """Show runs newest first, filtered by status; HTMX requests get only the table."""
    status = request.GET.get("status", "")
    if status not in RunStatus.values:
        status = ""
    page = Paginator(TunixRun.objects.with_status(status).newest_first(), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    template = "runs/tunixrun_list.html"
    if request.htmx and request.htmx.target == "run-table":
        template += "#run-table"
    context = {
        "page": page,
        "status": status,
        "statuses": RunStatus.choices,
        "launch_form": launch_form or LaunchRunForm(preset=request.GET.get("preset")),
    }
    return render(request, template, context, status=status_code)


@login_required
@require_POST
@permission_required("runs.add_tunixrun", raise_exception=True)
def run_launch(request):
    """Launch a run and open its page; invalid input comes back with field errors."""
    form = LaunchRunForm(request.POST)
    run = form.launch() if form.is_valid() else None
    if run is None:
        if request.htmx:
            return render(request, "runs/tunixrun_list.html#launch-form", {"launch_form": form})
        return run_list(request, launch_form=form, status_code=400)
    url = reverse("runs:run-detail", args=[run.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
def run_detail(request, run_id):
    """Show one run: live status and log tail while it runs, loss curve, config, metrics, files."""
    run = get_object_or_404(TunixRun, pk=run_id)
    polling = request.htmx and request.htmx.target == "run-live"
    if polling and run.is_finished:
        # The run just ended: reload, so its metrics, files and times outside the live region show.
        return HttpResponseClientRefresh()
    context = {
        "run": run,
        "log_tail": run.log_tail(),
        "loss_chart": line_chart(
            run.loss_curve(), title="Loss by step", x_label="step", y_label="loss"
        ),
    }
    if polling:
        # The live region polls every 2 s: it never shows the files, so never walk the tree.
        return render(request, "runs/tunixrun_detail.html#run-live", context)
    return render(request, "runs/tunixrun_detail.html", {**context, "files": run.output_files()})
