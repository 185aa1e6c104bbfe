"""Forms for pages and the admin; refusals from the registry become form errors here."""

from django import forms
from django.db import IntegrityError, transaction

from registry.exceptions import INVALID_SEARCH, RegistryError
from registry.models import ModelArtifact, ModelVersion
from runs.models import TunixRun

# NaN and infinities are not numbers here: FloatField refuses them.
ERROR_NOT_A_NUMBER = "Bounds must be numbers, such as 0.3."
ERROR_ORDER_NEEDS_METRIC = "order=metric needs a metric to sort by."


class RunChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, run: TunixRun) -> str:
        metrics = ", ".join(f"{k}={v}" for k, v in list(run.metrics.items())[:2])
        return f"{run.name} ({run.status}{'; ' + metrics if metrics else ''})"


class PromoteRunForm(forms.Form):
    """Pick a finished run, an optional label and tags, and promote it into a model."""

    artifact = forms.ModelChoiceField(queryset=ModelArtifact.objects.all(), label="Model")
    run = RunChoiceField(queryset=TunixRun.objects.promotable().newest_first(), label="Run")
    version = forms.CharField(
        required=False, max_length=64, label="Label", help_text="Empty for the next vN."
    )
    tags = forms.CharField(required=False, label="Tags", help_text="Separated by commas or spaces.")
    force = forms.BooleanField(
        required=False, label="Promote a failed run anyway (recorded in provenance)"
    )

    def promote(self, *, user) -> tuple[ModelVersion, bool] | None:
        """Promote the chosen run; return (version, created), or None and a form error."""
        data = self.cleaned_data
        try:
            return ModelVersion.objects.promote(
                data["artifact"],
                data["run"],
                version=data["version"] or None,
                tags=data["tags"].replace(",", " ").split(),
                force=data["force"],
                user=user,
            )
        except RegistryError as exc:
            self.add_error(None, exc.message)
            return None


class ModelArtifactForm(forms.ModelForm):
    """Create a model: name (unique ignoring case), repo id (made from the name if empty), ..."""

    class Meta:
        model = ModelArtifact
        fields = ["name", "repo_id", "description", "task_type"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def save(self, commit: bool = True) -> ModelArtifact:
        return ModelArtifact.objects.create_artifact(**self.cleaned_data)


class TagsForm(forms.Form):
    """A version's tags, separated by commas or spaces."""

    tags = forms.CharField(required=False, label="Tags")

    def save(self, version: ModelVersion, *, user) -> bool:
        """Replace the tags; return False with the refusal as an error."""
        try:
            version.set_tags(self.cleaned_data["tags"].replace(",", " ").split(), user=user)
        except RegistryError as exc:
            self.add_error("tags", exc.message)
            return False
        return True


class RepoIdForm(forms.ModelForm):
    """Change a model's Hub repo id (unique ignoring case; clients using the old one break)."""

    class Meta:
        model = ModelArtifact
        fields = ["repo_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["repo_id"].required = True

    def save(self, commit: bool = True) -> ModelArtifact:
        """Save the new repo id; a clash with a model saved meanwhile becomes a form error."""
        try:
            with transaction.atomic():
                return super().save(commit=commit)
        except IntegrityError:
            self.add_error("repo_id", "A model with this repo id already exists (ignoring case).")
            return self.instance


class VersionSearchForm(forms.Form):
    """Search ready versions by a metric: the model page's filter and the API's version list."""

    model = forms.CharField(required=False)
    metric = forms.CharField(required=False)
    gte = forms.FloatField(required=False, error_messages={"invalid": ERROR_NOT_A_NUMBER})
    lte = forms.FloatField(required=False, error_messages={"invalid": ERROR_NOT_A_NUMBER})
    order = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Newest first"),
            ("metric", "Metric, lowest first"),
            ("-metric", "Metric, highest first"),
        ],
    )

    def clean(self):
        data = super().clean()
        if data.get("order") and not data.get("metric"):
            self.add_error("order", ERROR_ORDER_NEEDS_METRIC)
        return data

    def versions(self, *, artifact=None):
        """Return the versions searched for; raise an `invalid_search` RegistryError if invalid."""
        if not self.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in self.errors.items()
            )
            raise RegistryError(problems, code=INVALID_SEARCH)
        return ModelVersion.objects.search(artifact=artifact, **self.cleaned_data)
