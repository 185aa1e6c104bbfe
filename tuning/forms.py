"""Forms for the tuning pages; refusals from the domain become field or form errors."""

from django import forms
from django.conf import settings

from registry.forms import DomainErrorFormMixin, TagsField
from registry.models import ModelArtifact
from runs.forms import JSONObjectField
from tuning.exceptions import TuningError
from tuning.models import Mode, TuningJob

EXAMPLE_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 0.001, "high": 0.1},
    "rank": {"type": "choice", "values": [2, 4, 8, 16]},
}


class TuningJobForm(forms.Form):
    """Create and start a tuning job."""

    name = forms.CharField(max_length=200)
    trainer = forms.ChoiceField(choices=())
    base_config = JSONObjectField(required=False, label="Base config (JSON)")
    search_space = JSONObjectField(label="Search space (JSON)")
    metric = forms.CharField(max_length=200, initial="eval_loss")
    mode = forms.ChoiceField(choices=Mode.choices, initial=Mode.MIN)
    num_samples = forms.IntegerField(min_value=1, max_value=1000, initial=4, label="Samples")
    max_concurrent_trials = forms.IntegerField(min_value=1, initial=2, label="Trials at once")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trainer"].choices = [(path, path) for path in settings.RUN_TRAINERS]
        if not self.is_bound:
            self.initial.setdefault("search_space", EXAMPLE_SPACE)
            self.initial.setdefault("base_config", {"steps": 300})

    def create(self) -> TuningJob | None:
        """Create and queue the job; return it, or None with the refusals as field errors."""
        try:
            return TuningJob.objects.create_job(**self.cleaned_data).start()
        except TuningError as exc:
            for key, message in exc.errors.items() or [(None, exc.message)]:
                field, _, detail = key.partition(".") if key else (None, "", "")
                field = field if field in self.fields else None
                self.add_error(field, f"{detail}: {message}" if detail else message)
            return None


class PromoteBestForm(DomainErrorFormMixin, forms.Form):
    """Promote a job's best trial into a model."""

    artifact = forms.ModelChoiceField(queryset=ModelArtifact.objects.all(), label="Model")
    version = forms.CharField(required=False, max_length=64, label="Label (optional)")
    tags = TagsField(label="Tags")

    def promote(self, job, *, user):
        """Promote; return the version, or None with the refusal as a form error."""
        data = self.cleaned_data
        result = self.attempt(
            job.promote_best,
            data["artifact"],
            version=data["version"] or None,
            tags=data["tags"],
            user=user,
        )
        return result[0] if result else None
