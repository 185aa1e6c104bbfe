"""The Hugging Face Hub file protocol over the registry, so `HF_ENDPOINT` clients pull from us.

With `HF_ENDPOINT=http://host:8000/hf`, `huggingface_hub` (and transformers, peft, vLLM through
it) asks, for `snapshot_download("acme/gemma-sft", revision="production")`:

    GET  /hf/api/models/acme/gemma-sft/revision/production   the commit id (`sha`) and files
    GET  /hf/api/models/acme/gemma-sft/tree/<commit>?recursive=True   sizes and sha256 of files
    HEAD /hf/acme/gemma-sft/resolve/<commit>/<path>          X-Repo-Commit, X-Linked-Etag/-Size
    GET  /hf/acme/gemma-sft/resolve/<commit>/<path>          the bytes, `Range: bytes=N-` to resume

A repo is a model (`ModelArtifact.repo_id`), a revision a commit id, alias or label, resolved by
`ModelVersion.objects.at_revision`; bytes come from the blob store through the same
`file_response` as the API's single-file route. The client tells errors apart only by the
`X-Error-Code` and `X-Error-Message` headers (on HEAD too), so every refusal here carries them.
Every file is described as a Git LFS file whose oid is its sha256, as the Hub does for weights.
"""

import datetime
import hashlib
from urllib.parse import urlencode

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from rest_framework.authentication import (
    SessionAuthentication,
    TokenAuthentication,
)
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotAuthenticated,
    PermissionDenied,
    Throttled,
)
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from config.http_errors import http_status
from registry.api import AnyContentNegotiation, check_downloads_enabled
from registry.downloads import file_response
from registry.exceptions import (
    ARCHIVED,
    ARTIFACT_NOT_FOUND,
    ENTRY_NOT_FOUND,
    REVISION_NOT_FOUND,
    RegistryError,
)
from registry.models import ModelArtifact, ModelVersion
from registry.storage import ManifestEntry
from registry.stores import blob_store

# How many entries one /tree answer holds; more are paged with `Link: <...>; rel="next"`.
TREE_PAGE_SIZE = 1000
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
# The client maps these X-Error-Code values to RepositoryNotFoundError, RevisionNotFoundError,
# EntryNotFoundError and GatedRepoError; anything else is a generic HTTP error to it.
HUB_CODE_BY_CODE = {
    ARTIFACT_NOT_FOUND: "RepoNotFound",
    REVISION_NOT_FOUND: "RevisionNotFound",
    ARCHIVED: "RevisionNotFound",
    ENTRY_NOT_FOUND: "EntryNotFound",
}
# huggingface_hub treats a 401 with exactly this message as a bad token, not a missing repo.
ERROR_BAD_TOKEN = "Invalid credentials in Authorization header"  # noqa: S105
ERROR_NO_TOKEN = (
    "Authentication required: this registry serves models to logged-in users only. Set HF_TOKEN "  # noqa: S105
    "to a Tunix RT API token (python manage.py drf_create_token USER)."
)
ERROR_NO_REPO = "No model with the repo id {repo_id!r} (or you may not read it)."
ERROR_NO_ENTRY = "{repo_id}@{label} has no file {path!r}."
ERROR_NO_ROUTE = "The Hub file protocol has no route {path!r} here."


class BearerTokenAuthentication(TokenAuthentication):
    """The API's tokens, sent the way huggingface_hub sends HF_TOKEN: `Authorization: Bearer`."""

    keyword = "Bearer"


class HubError(RegistryError):
    """A refusal in the Hub protocol; `commit` is reported for a missing file of a known version."""

    def __init__(self, message: str, *, code: str, commit: str | None = None):
        super().__init__(message, code=code)
        self.commit = commit


def hub_error(status: int, message: str, *, code: str | None = None, commit: str | None = None):
    """Return an error the client can classify: the headers, and `{"error": ...}` as the body."""
    response = JsonResponse({"error": message}, status=status)
    # One line of ASCII: messages quote user input, and clients decode headers differently.
    one_line = " ".join(message.split())
    response["X-Error-Message"] = one_line.encode("ascii", "backslashreplace").decode()
    if code:
        response["X-Error-Code"] = code
    if commit:
        response["X-Repo-Commit"] = commit
    return response


def hub_exception_handler(exc, context):
    """Render refusals (auth, the download guard, throttling, the registry's) as Hub errors."""
    if isinstance(exc, AuthenticationFailed):
        return hub_error(401, ERROR_BAD_TOKEN)
    if isinstance(exc, NotAuthenticated):
        return hub_error(401, ERROR_NO_TOKEN, code="RepoNotFound")
    if isinstance(exc, PermissionDenied):
        # GatedRepo makes the client raise at once with our reason; any other code on a 403
        # becomes "check your connection" once it fails to find the file in its cache.
        return hub_error(403, str(exc.detail), code="GatedRepo")
    if isinstance(exc, Throttled):
        response = hub_error(429, str(exc.detail))
        if exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, RegistryError):
        return hub_error(
            http_status(exc),
            exc.message,
            code=HUB_CODE_BY_CODE.get(exc.code),
            commit=getattr(exc, "commit", None),
        )
    if isinstance(exc, APIException):  # a method the route does not answer, and the like
        return hub_error(exc.status_code, str(exc.detail))
    if isinstance(exc, Http404):
        return hub_error(404, "Not found.")
    return None


def hub_time(moment: datetime.datetime) -> str:
    """Return `moment` as the Hub writes it, `2026-03-03T12:00:00.000Z` (the client needs `Z`)."""
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lfs_entry(sha256: str, size: int) -> tuple[str, dict]:
    """Return (git blob id, lfs dict) of the LFS pointer a Hub repo would hold for these bytes."""
    pointer = LFS_POINTER.format(sha256=sha256, size=size).encode()
    blob_id = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()  # noqa: S324
    return blob_id, {"oid": sha256, "size": size, "pointerSize": len(pointer)}


def sizes(lfs: dict) -> dict:
    """Return the size fields of an lfs dict, as model info's siblings spell them."""
    return {"size": lfs["size"], "pointerSize": lfs["pointerSize"]}


def repo_info(artifact: ModelArtifact, version: ModelVersion) -> dict:
    """Return the Hub's model info for `version` of `artifact`."""
    files = list(version.files.all())
    siblings = []
    for file in files:
        blob_id, lfs = lfs_entry(file.sha256, file.size_bytes)
        siblings.append(
            {
                "rfilename": file.path,
                "size": file.size_bytes,
                "blobId": blob_id,
                "lfs": {
                    "sha256": lfs["oid"],
                    "size": lfs["size"],
                    "pointerSize": lfs["pointerSize"],
                },
            }
        )
    library = version.library_name
    tags = [
        t
        for t in (
            library,
            "safetensors" if any(f.path.endswith(".safetensors") for f in files) else None,
        )
        if t
    ]
    tags += [tag for tag in version.tags if tag not in tags]
    return {
        "_id": f"tunix-rt-{artifact.pk}",
        "id": artifact.repo_id,
        "modelId": artifact.repo_id,
        "author": artifact.repo_id.split("/")[0] if "/" in artifact.repo_id else None,
        "sha": version.commit,
        "lastModified": hub_time(version.created_at),
        "createdAt": hub_time(artifact.created_at),
        # Every read needs a logged-in user: to the Hub's eyes, a private repo.
        "private": True,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": tags,
        "library_name": library,
        "pipeline_tag": artifact.pipeline_tag,
        "usedStorage": version.size_bytes,
        "cardData": {"tunix_rt": {"version": version.version, "digest": version.sha256}},
        "siblings": siblings,
    }


def tree_entries(version: ModelVersion, path: str, *, recursive: bool, expand: bool) -> list:
    """Return the /tree listing of `path` in `version`: its files and directories, path order.

    Raise `entry_not_found` when nothing lies at or under `path`.
    """
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    last_commit = {
        "id": version.commit,
        "title": f"{version.artifact.name} {version.version}",
        "date": hub_time(version.created_at),
    }
    shown_commit = last_commit if expand else None
    entries: dict[str, dict] = {}
    for file in version.files.all():
        if file.path == path and path:
            entries = {file.path: file_entry(file, shown_commit)}
            break
        if not file.path.startswith(prefix):
            continue
        rest = file.path[len(prefix) :].split("/")
        # Recursive listings hold every directory on the way; flat ones only the first level.
        depths = range(1, len(rest)) if recursive else range(1, min(len(rest), 2))
        for depth in depths:
            folder = prefix + "/".join(rest[:depth])
            entries.setdefault(
                folder, folder_entry(version, folder, last_commit if expand else None)
            )
        if recursive or len(rest) == 1:
            entries[file.path] = file_entry(file, shown_commit)
    if not entries and prefix:
        raise HubError(
            ERROR_NO_ENTRY.format(
                repo_id=version.artifact.repo_id, label=version.version, path=path
            ),
            code=ENTRY_NOT_FOUND,
            commit=version.commit,
        )
    return [entries[key] for key in sorted(entries, key=lambda p: p.encode("utf-8"))]


def file_entry(file, last_commit: dict | None) -> dict:
    """Return one file of a /tree listing."""
    blob_id, lfs = lfs_entry(file.sha256, file.size_bytes)
    entry = {"type": "file", "path": file.path, "size": file.size_bytes, "oid": blob_id, "lfs": lfs}
    if last_commit:
        entry["lastCommit"] = last_commit
    return entry


def folder_entry(version: ModelVersion, path: str, last_commit: dict | None) -> dict:
    """Return one directory of a /tree listing; its oid is stable for this commit and path."""
    oid = hashlib.sha1(f"{version.commit}\0{path}".encode()).hexdigest()  # noqa: S324
    entry = {"type": "directory", "path": path, "size": 0, "oid": oid}
    if last_commit:
        entry["lastCommit"] = last_commit
    return entry


class HubView(APIView):
    """A Hub protocol route: the API's tokens (also as Bearer) and read rules, Hub-shaped errors."""

    authentication_classes = [
        BearerTokenAuthentication,
        TokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsAuthenticated]
    content_negotiation_class = AnyContentNegotiation
    # Hugging Face's protocol, documented in docs/hf_protocol.md, not in our OpenAPI schema.
    schema = None

    def get_exception_handler(self):
        return hub_exception_handler

    def version(self, repo_id: str, revision: str | None) -> tuple[ModelArtifact, ModelVersion]:
        """Return the model and the version `revision` (default `main`) names; refuse as the Hub."""
        try:
            artifact = ModelArtifact.objects.get_by_repo_id(repo_id)
        except ModelArtifact.DoesNotExist:
            raise HubError(ERROR_NO_REPO.format(repo_id=repo_id), code=ARTIFACT_NOT_FOUND) from None
        version = ModelVersion.objects.at_revision(artifact, revision or "main")
        version.ensure_downloadable()
        return artifact, version


class RepoInfoView(HubView):
    """`GET /api/models/{repo_id}[/revision/{revision}]`: the commit id and files of a revision."""

    def get(self, request, repo_id, revision=None):
        artifact, version = self.version(repo_id, revision)
        return JsonResponse(repo_info(artifact, version))


class TreeView(HubView):
    """`GET /api/models/{repo_id}/tree/{revision}[/{path}]`: files with sizes and sha256."""

    def get(self, request, repo_id, revision, path=""):
        _, version = self.version(repo_id, revision)
        params = request.query_params
        entries = tree_entries(
            version,
            path,
            recursive=params.get("recursive", "").lower() in ("1", "true"),
            expand=params.get("expand", "").lower() in ("1", "true"),
        )
        try:
            start = max(int(params.get("cursor", 0)), 0)
        except ValueError:
            start = 0
        response = JsonResponse(entries[start : start + TREE_PAGE_SIZE], safe=False)
        if start + TREE_PAGE_SIZE < len(entries):
            query = urlencode({**params.dict(), "cursor": start + TREE_PAGE_SIZE})
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
            response["Link"] = f'<{next_url}>; rel="next"'
        return response


class ResolveView(HubView):
    """`HEAD`/`GET /{repo_id}/resolve/{revision}/{path}`: a file from the blob store, Range too."""

    def get(self, request, repo_id, revision, path):
        artifact, version = self.version(repo_id, revision)
        entry = version.files.filter(path=path).first() if "\0" not in path else None
        if entry is None:
            raise HubError(
                ERROR_NO_ENTRY.format(repo_id=artifact.repo_id, label=version.version, path=path),
                code=ENTRY_NOT_FOUND,
                commit=version.commit,
            )
        check_downloads_enabled()
        # The API's single-file path: fail-closed (a changed blob is never served whole).
        response = file_response(
            request,
            blob_store(),
            ManifestEntry(entry.path, entry.size_bytes, entry.sha256),
            filename=path.rsplit("/", 1)[-1],
            guard=version.integrity_guard(user=request.user, paths={entry.path}),
        )
        response["X-Repo-Commit"] = version.commit
        response["X-Linked-Etag"] = f'"{entry.sha256}"'
        response["X-Linked-Size"] = str(entry.size_bytes)
        return response

    def head(self, request, repo_id, revision, path):
        # GET's answer and headers (Content-Length the real size: a HEAD reporting 0 makes the
        # client write an empty file) without its body. Servers drop a HEAD's body, but some
        # only after reading it: the client asks HEAD of every file, weights included.
        response = self.get(request, repo_id, revision, path)
        response.close()
        return HttpResponse(status=response.status_code, headers=dict(response.items()))


@require_safe
def agent_harnesses(request):
    """Answer the client's telemetry probe at once: nothing here, and no database touched."""
    return hub_error(404, "This server lists no agent harnesses.")


def unknown_route(request, path=""):
    """Answer any other path under the prefix as the Hub would: 404 with an error header."""
    return hub_error(404, ERROR_NO_ROUTE.format(path=request.path[:200]))
