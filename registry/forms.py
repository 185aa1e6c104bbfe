"""Forms for pages and the admin; refusals from the registry become form errors here."""

import re

from django import forms
from django.db import IntegrityError, transaction

from config.exceptions import DomainError
from registry.choices import EventKind
from registry.exceptions import INVALID_SEARCH, GateUnmetError, RegistryError
from registry.gates import OPERATORS
from registry.models import ModelAlias, ModelArtifact, ModelVersion
from runs.models import TunixRun

# NaN and infinities are not numbers here: FloatField refuses them.
ERROR_NOT_A_NUMBER = "Bounds must be numbers, such as 0.3."
ERROR_ORDER_NEEDS_METRIC = "order=metric needs a metric to sort by."
REQUIREMENT_LINE = re.compile(
    r"^\s*(?P<metric>[^\s<>=]+)\s*(?P<op><=|>=|==|<|>)\s*(?P<value>\S+)\s*$"
)
ERROR_REQUIREMENT_LINE = "Write one requirement a line, such as “eval_loss <= 0.3”; got “{line}”."


class DomainErrorFormMixin:
    """Run a domain call for a form: a refusal becomes the form's error, on `error_field`."""

    error_field: str | None = None
    refusal: DomainError | None = None

    def attempt(self, call, *args, **kwargs):
        """Return `call(*args, **kwargs)`, or None with the refusal added as an error."""
        try:
            return call(*args, **kwargs)
        except DomainError as exc:
            self.refusal = exc
            self.add_error(self.error_field, exc.message)
            return None


class TagsField(forms.CharField):
    """Tags typed on one line, separated by commas or spaces: cleaned into a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Separated by commas or spaces.")
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        return super().to_python(value).replace(",", " ").split()

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class RequirementsField(forms.CharField):
    """An alias's gate, one requirement a line (`eval_loss <= 0.3`): cleaned into JSON shape."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"})

    def to_python(self, value) -> list[dict]:
        requirements = []
        for line in filter(str.strip, super().to_python(value).splitlines()):
            match = REQUIREMENT_LINE.match(line)
            try:
                number = float(match["value"]) if match else None
            except ValueError:
                number = None
            if number is None:
                raise forms.ValidationError(ERROR_REQUIREMENT_LINE.format(line=line.strip()))
            requirements.append({"metric": match["metric"], "op": match["op"], "value": number})
        return requirements

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{r['metric']} {r['op']} {r['value']:g}" for r in value)
        return value


class RunChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, run: TunixRun) -> str:
        metrics = ", ".join(f"{k}={v}" for k, v in list(run.metrics.items())[:2])
        return f"{run.name} ({run.status}{'; ' + metrics if metrics else ''})"


class PromoteRunForm(DomainErrorFormMixin, forms.Form):
    """Pick a finished run, an optional label and tags, and promote it into a model."""

    artifact = forms.ModelChoiceField(queryset=ModelArtifact.objects.all(), label="Model")
    run = RunChoiceField(
        queryset=TunixRun.objects.promotable().newest_first(),
        label="Run (completed or failed, newest first)",
    )
    version = forms.CharField(
        required=False, max_length=64, label="Label", help_text="Empty for the next vN."
    )
    tags = TagsField(label="Tags")
    force = forms.BooleanField(
        required=False, label="Promote a failed run anyway (recorded in provenance)"
    )

    def promote(self, *, user) -> tuple[ModelVersion, bool] | None:
        """Promote the chosen run; return (version, created), or None and a form error."""
        data = self.cleaned_data
        return self.attempt(
            ModelVersion.objects.promote,
            data["artifact"],
            data["run"],
            version=data["version"] or None,
            tags=data["tags"],
            force=data["force"],
            user=user,
        )


class ModelPagePromoteForm(PromoteRunForm):
    """The promote form of a model page: the model is the page's, force is offered on demand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact"].widget = forms.HiddenInput()

    def choice_fields(self) -> list:
        """Return the fields always shown: all but force, which only a failed run offers."""
        return [field for field in self.visible_fields() if field.name != "force"]

    def force_fields(self) -> list:
        return [self["force"]]


class ModelArtifactForm(DomainErrorFormMixin, forms.ModelForm):
    """Create a model: name (unique ignoring case), repo id (made from the name if empty), ..."""

    error_field = "name"

    class Meta:
        model = ModelArtifact
        fields = ["name", "repo_id", "description", "task_type"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def save(self, commit: bool = True) -> ModelArtifact | None:
        """Create the model; return it, or None with the refusal beside the name."""
        return self.attempt(ModelArtifact.objects.create_artifact, **self.cleaned_data)


class TagsForm(DomainErrorFormMixin, forms.Form):
    """A version's tags, separated by commas or spaces."""

    error_field = "tags"
    tags = TagsField(label="Tags")

    def save(self, version: ModelVersion, *, user) -> bool:
        """Replace the tags; return False with the refusal as an error."""
        return self.attempt(version.set_tags, self.cleaned_data["tags"], user=user) is not None


class ReadyVersionField(forms.ModelChoiceField):
    def label_from_instance(self, version: ModelVersion) -> str:
        metric = version.key_metric
        return f"{version.version} ({metric[0]}={metric[1]:.4g})" if metric else version.version


class AliasPointForm(DomainErrorFormMixin, forms.Form):
    """Point an alias (new or existing) at a ready version of one model, if its gates allow."""

    context_name = "point_form"

    alias = forms.CharField(max_length=64, label="Alias", initial="production")
    version = ReadyVersionField(queryset=ModelVersion.objects.none(), label="Version")
    reason = forms.CharField(required=False, max_length=500, label="Reason (optional)")

    def __init__(self, *args, artifact: ModelArtifact, **kwargs):
        # Its ids must not clash with the promote form's on the same page.
        kwargs.setdefault("auto_id", "id_alias_%s")
        super().__init__(*args, **kwargs)
        self.artifact = artifact
        self.fields["version"].queryset = ModelVersion.objects.for_artifact(artifact).ready()
        self.unmet: list[str] = []

    def save(self, *, user) -> str | None:
        """Move the alias; say so, or return None with the refusal (and each unmet need)."""
        data = self.cleaned_data
        alias = self.attempt(
            ModelAlias.objects.point,
            self.artifact,
            data["alias"],
            data["version"],
            user=user,
            reason=data["reason"],
        )
        if isinstance(self.refusal, GateUnmetError):
            self.unmet = self.refusal.unmet
        return alias and f"{alias.name} now points at {alias.version.version}."


class AliasRemoveForm(DomainErrorFormMixin, forms.Form):
    """Unset an alias of one model (its gates stay); the alias is named by the URL."""

    context_name = "remove_form"

    def __init__(self, *args, artifact: ModelArtifact, alias_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.artifact, self.alias_name = artifact, alias_name

    def save(self, *, user) -> str | None:
        """Unset the alias; say so, or return None with the refusal as a form error."""
        alias = self.attempt(ModelAlias.objects.remove, self.artifact, self.alias_name, user=user)
        return alias and f"{alias.name} no longer points at a version."


class AliasGatesForm(DomainErrorFormMixin, forms.Form):
    """Replace the requirements an alias imposes on the versions it may point at."""

    requirements = RequirementsField(
        required=False,
        label="Requirements",
        help_text="One a line, such as eval_loss <= 0.3 (" + " ".join(OPERATORS) + ").",
    )
    requires_completed_eval = forms.BooleanField(
        required=False, label="Requires a completed evaluation"
    )
    reason = forms.CharField(required=False, max_length=500, label="Reason (optional)")

    context_name = "gates_form"

    def __init__(self, *args, alias: ModelAlias, **kwargs):
        # One form per alias on the page: the prefix keeps their ids apart.
        super().__init__(*args, prefix=f"gates-{alias.name}", **kwargs)
        self.alias = alias
        self.alias_name = alias.name

    @classmethod
    def for_alias(cls, alias: ModelAlias) -> "AliasGatesForm":
        """Return the form filled with `alias`'s current gates."""
        initial = {
            "requirements": alias.requirements,
            "requires_completed_eval": alias.requires_completed_eval,
        }
        return cls(alias=alias, initial=initial)

    def save(self, *, user) -> str | None:
        """Replace the gates; say so, or return None with the refusal as a form error."""
        data = self.cleaned_data
        alias = self.attempt(
            ModelAlias.objects.set_gates,
            self.alias.artifact,
            self.alias.name,
            requirements=data["requirements"],
            requires_completed_eval=data["requires_completed_eval"],
            user=user,
            reason=data["reason"],
        )
        return alias and f"The gates of {alias.name} are saved."


class RepoIdForm(forms.ModelForm):
    """Change a model's Hub repo id (unique ignoring case; clients using the old one break)."""

    class Meta:
        model = ModelArtifact
        fields = ["repo_id"]
        labels = {"repo_id": "Repo id"}
        help_texts = {"repo_id": "Clients that use the old id stop finding the model."}
        widgets = {"repo_id": forms.TextInput(attrs={"placeholder": "acme/gemma-sft"})}

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
    metric = forms.CharField(
        required=False, label="Metric", widget=forms.TextInput(attrs={"placeholder": "eval_loss"})
    )
    gte = forms.FloatField(
        required=False,
        label="at least",
        error_messages={"invalid": ERROR_NOT_A_NUMBER},
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    lte = forms.FloatField(
        required=False,
        label="at most",
        error_messages={"invalid": ERROR_NOT_A_NUMBER},
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    order = forms.ChoiceField(
        required=False,
        label="Order",
        choices=[
            ("", "Newest first"),
            ("metric", "Metric, lowest first"),
            ("-metric", "Metric, highest first"),
        ],
    )
    # What the model page shows of it (the model is the page's own).
    page_fields = ("metric", "gte", "lte", "order")

    @property
    def shown_fields(self) -> list:
        """Return the bound fields the model page renders."""
        return [self[name] for name in self.page_fields]

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


class EventKindForm(forms.Form):
    """The audit trail's filter: one kind of event, or all."""

    kind = forms.ChoiceField(
        required=False, label="Kind", choices=[("", "All"), *EventKind.choices]
    )

    def kind_or_none(self) -> str | None:
        """Return the kind asked for, None for all (or for a kind that does not exist)."""
        return (self.cleaned_data.get("kind") or None) if self.is_valid() else None
