"""Tuning pages: the jobs, a new job, and one job's trials updating live."""

import contextlib

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from runs.charts import curves_chart, line_chart
from tuning.exceptions import TuningError
from tuning.forms import PromoteBestForm, TuningJobForm
from tuning.models import JobStatus, TuningJob

JOBS_PER_PAGE = 25


@login_required
def job_list(request):
    """List jobs with their status, trials done/total and best metric."""
    jobs = TuningJob.objects.with_trial_counts().select_related("best_trial").newest_first()
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "tuning/tuningjob_list.html", {"page": page})


@login_required
@permission_required("tuning.add_tuningjob", raise_exception=True)
def job_new(request):
    """Create and start a job; invalid input comes back with errors beside the fields."""
    form = TuningJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        job = form.create()
        if job is not None:
            url = job_url(job)
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    template = "tuning/tuningjob_form.html"
    if request.htmx:
        template += "#job-form"
    return render(request, template, {"form": form})


def job_url(job: TuningJob) -> str:
    """Return the job's page."""
    return reverse("tuning:job-detail", args=[job.pk])


@login_required
def job_detail(request, job_id):
    """Show a job: trials (polled while it runs), the metric by trial, and promote-best."""
    job = get_object_or_404(TuningJob.objects.select_related("best_trial__run"), pk=job_id)
    polling = request.htmx and request.htmx.target == "trial-panel"
    if polling and job.is_finished:
        # The job just ended: reload the page, so the promote form and final state appear.
        return HttpResponseClientRefresh()
    context = job_context(job, PromoteBestForm())
    template = "tuning/tuningjob_detail.html"
    if polling:
        template += "#trial-panel"
    return render(request, template, context)


def job_context(job: TuningJob, promote_form: PromoteBestForm) -> dict:
    """What the job page shows: its trials, the metric by trial, each trial's curve, the form."""
    trials = list(job.trials.select_related("run"))
    best_index = next((i for i, t in enumerate(trials) if t.pk == job.best_trial_id), None)
    chart = line_chart(
        [t.metric_value for t in trials],
        title=f"{job.metric} by trial",
        x_label="trial",
        y_label=job.metric,
        highlight=best_index,
    )
    best = trials[best_index] if best_index is not None else None
    curves = curves_chart(
        [(f"trial {i}", t.run.loss_curve() if t.run else []) for i, t in enumerate(trials, 1)],
        title="Training loss by step, per trial",
        x_label="step",
        y_label="loss",
        highlight=f"trial {best_index + 1}" if best else None,
    )
    return {
        "job": job,
        "trials": trials,
        "chart": chart,
        "curves": curves,
        "promote_form": promote_form,
        "JobStatus": JobStatus,
    }


@login_required
@require_POST
def job_promote_best(request, job_id):
    """Promote the best trial and go to the new version; refusals are shown on the job page."""
    job = get_object_or_404(TuningJob, pk=job_id)
    if not request.user.has_perm("registry.add_modelversion"):
        return render(
            request,
            "tuning/tuningjob_detail.html",
            job_context(job, PromoteBestForm()) | {"denied": True},
            status=403,
        )
    form = PromoteBestForm(request.POST)
    version = form.promote(job, user=request.user) if form.is_valid() else None
    if version is None:
        return render(request, "tuning/tuningjob_detail.html", job_context(job, form), status=400)
    url = reverse("registry:version-detail", args=[version.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
@permission_required("tuning.change_tuningjob", raise_exception=True)
def job_cancel(request, job_id):
    """Cancel a pending or running job."""
    job = get_object_or_404(TuningJob, pk=job_id)
    with contextlib.suppress(TuningError):  # already finished: the page shows its status
        job.cancel()
    return redirect("tuning:job-detail", job_id=job.pk)
