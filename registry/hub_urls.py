"""Routes of the Hub file protocol, mounted under `/hf/` (see registry/hub.py).

A repo id is `name` or `namespace/name`; the patterns take it loosely (up to the first keyword)
so that a malformed one reaches the view and is refused as the Hub would, with RepoNotFound.
"""

from django.urls import path, re_path

from registry import hub

app_name = "hub"

urlpatterns = [
    path("api/agent-harnesses", hub.agent_harnesses, name="agent-harnesses"),
    re_path(
        r"^api/models/(?P<repo_id>.+?)/revision/(?P<revision>[^/]+)$",
        hub.RepoInfoView.as_view(),
        name="revision",
    ),
    re_path(
        r"^api/models/(?P<repo_id>.+?)/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?$",
        hub.TreeView.as_view(),
        name="tree",
    ),
    re_path(r"^api/models/(?P<repo_id>.+)$", hub.RepoInfoView.as_view(), name="repo"),
    re_path(
        r"^(?P<repo_id>.+?)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$",
        hub.ResolveView.as_view(),
        name="resolve",
    ),
    re_path(r"^(?P<path>.*)$", hub.unknown_route, name="unknown"),
]
