"""What the registry contributes to pages of other apps, which must not know it."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from runs.lifecycle import RunStatus


@dataclass(frozen=True)
class RunAction:
    """A link a run page offers for runs in one of `statuses`: `url` takes `?run=<id>`."""

    label: str
    url: str
    statuses: tuple[str, ...]


def run_actions(request) -> dict:
    """Offer curators "Promote this run" on the page of a completed run."""

    def actions() -> list[RunAction]:
        if not request.user.has_perm("registry.add_modelversion"):
            return []
        url = reverse("registry:run-promote")
        return [RunAction("Promote this run", url, (RunStatus.COMPLETED,))]

    return {"run_actions": SimpleLazyObject(actions)}
