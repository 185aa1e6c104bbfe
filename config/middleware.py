"""Refuse requests carrying a NUL character before any of it reaches a query.

PostgreSQL's text types cannot hold NUL (U+0000): a query with one raises `DataError`, which
would answer 500 on PostgreSQL while SQLite happily stores or matches it. No legitimate name,
label, search term, cookie or header holds a NUL, so the request is refused at the door, once,
instead of guarding every filter: the URL path, the query string, cookies, headers and form
fields. JSON bodies are checked by `config.parsers.JSONParser`.
"""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponseBadRequest, JsonResponse
from django.http.request import RawPostDataException

NUL = "\x00"
ERROR_NUL = "The request holds a NUL character (%00), which no name, label or parameter may hold."
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# The Hugging Face Hub routes check their own paths (repo ids and revisions against their
# patterns, files against the manifest) and must answer with the Hub's error headers, which the
# client reads: a bare 400 would become "check your connection". Their query, cookies and headers
# are still checked here.
PATHS_CHECKED_BY_THEIR_VIEWS = ("/hf/",)


def holds_nul(request) -> bool:
    """Return whether the path, query string, a cookie, a header or a form field holds a NUL."""
    path_checked_here = not request.path_info.startswith(PATHS_CHECKED_BY_THEIR_VIEWS)
    if path_checked_here and (NUL in request.path or NUL in request.path_info):
        return True
    if querydict_holds_nul(request.GET):
        return True
    if any(NUL in key or NUL in value for key, value in request.COOKIES.items()):
        return True
    if any(NUL in str(value) for key, value in request.META.items() if key.startswith("HTTP_")):
        return True
    if request.content_type in FORM_CONTENT_TYPES:
        try:
            return querydict_holds_nul(request.POST)
        except (RequestDataTooBig, TooManyFieldsSent, RawPostDataException):
            return False  # refused later by the view, with its own answer
    return False


def querydict_holds_nul(data) -> bool:
    """Return whether a key or any value of a QueryDict holds a NUL."""
    return any(NUL in key or any(NUL in value for value in values) for key, values in data.lists())


class RefuseNulMiddleware:
    """Answer 400 to a request holding a NUL: JSON `{"detail", "code"}` under /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if holds_nul(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": ERROR_NUL, "code": "null_character"}, status=400)
            return HttpResponseBadRequest(ERROR_NUL, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
