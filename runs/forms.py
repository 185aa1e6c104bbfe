"""Forms for the run pages; refusals from the domain become field errors."""

import json
from dataclasses import dataclass

from django import forms
from django.conf import settings

from runs.demo import tunix_demo_inputs
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


@dataclass(frozen=True)
class LaunchPreset:
    """A ready-made launch: what the form is filled with when a user picks it."""

    slug: str
    label: str
    name: str
    trainer: str
    config: dict


def launch_presets() -> list[LaunchPreset]:
    """Return the presets whose trainer is allowed and whose inputs exist, the real one first."""
    model, dataset = tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])
    presets = [
        LaunchPreset(
            slug="tunix-tiny",
            label="Tunix LoRA SFT on the tiny demo model",
            name="tunix-tiny-lora-sft",
            trainer="runs.trainers.tunix_lora_sft",
            config={
                "base_model": str(model),
                "dataset": str(dataset),
                "learning_rate": 0.003,
                "rank": 4,
                "alpha": 8.0,
                "steps": 40,
                "batch_size": 8,
                "sequence_length": 64,
                "eval_interval": 10,
            },
        ),
        LaunchPreset(
            slug="lora-demo",
            label="numpy LoRA demo (no Tunix; about a second)",
            name="lora-demo",
            trainer="runs.trainers.lora_demo",
            config={"learning_rate": 0.05, "rank": 8, "steps": 300},
        ),
    ]
    available = (model / "config.json").is_file() and dataset.is_file()
    return [
        p
        for p in presets
        if p.trainer in settings.RUN_TRAINERS and (available or p.slug != "tunix-tiny")
    ]


class LaunchRunForm(forms.Form):
    """Launch a run of an allowed trainer."""

    name = forms.CharField(max_length=200)
    trainer = forms.ChoiceField(choices=())
    config = JSONObjectField(required=False, label="Config (JSON)")

    def __init__(self, *args, preset: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trainer"].choices = [(path, path) for path in settings.RUN_TRAINERS]
        self.presets = launch_presets()
        chosen = next((p for p in self.presets if p.slug == preset), None)
        chosen = chosen or (self.presets[0] if self.presets else None)
        self.preset = chosen
        if not self.is_bound and chosen:
            self.initial.update(name=chosen.name, trainer=chosen.trainer, config=chosen.config)

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
