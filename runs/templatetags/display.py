"""Template filters shared by every page."""

import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Render a value as indented JSON (autoescaped by the template like any string)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)
