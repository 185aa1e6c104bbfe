"""Template filters and tags shared by every page."""

import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Render a value as indented JSON (autoescaped by the template like any string)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int) -> str:
    """Return the current query string with `param` set to page `number` (other filters kept)."""
    query = context["request"].GET.copy()
    query[param] = number
    return "?" + query.urlencode()
