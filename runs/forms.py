"""Forms for the run pages; refusals from the domain become field errors."""

import json

from django import forms
from django.conf import settings

from runs.exceptions import RunLaunchError
from runs.models import TunixRun


class JSONObjectField(forms.CharField):
    """A textarea holding a JSON object."""

    widget = forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"})

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise forms.ValidationError('Must be a JSON object, such as {"steps": 300}.')
        return data

    def prepare_value(self, value):
        return json.dumps(value, indent=2) if isinstance(value, dict) else value


class LaunchRunForm(forms.Form):
    """Launch a run of an allowed trainer."""

    name = forms.CharField(max_length=200)
    trainer = forms.ChoiceField(choices=())
    config = JSONObjectField(required=False, label="Config (JSON)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trainer"].choices = [(path, path) for path in settings.RUN_TRAINERS]
        if not self.is_bound:
            self.initial.setdefault("config", {"learning_rate": 0.05, "rank": 8, "steps": 300})

    def launch(self) -> TunixRun | None:
        """Create and queue the run; return it, or None with the refusals as field errors."""
        try:
            return TunixRun.objects.launch(**self.cleaned_data)
        except RunLaunchError as exc:
            for key, message in exc.errors.items():
                field, _, detail = key.partition(".")
                self.add_error(
                    field if field in self.fields else None,
                    f"{detail}: {message}" if detail else message,
                )
            return None
