"""The read side of MLflow's model-registry REST API, so `MLFLOW_TRACKING_URI` clients read from us.

With `MLFLOW_TRACKING_URI=http://host:8000`,
`mlflow.artifacts.download_artifacts("models:/gemma-sft@production")` asks (read from
mlflow-skinny 3.17.2: rest_store.py, models_artifact_repo.py, http_artifact_repo.py):

    GET  /api/2.0/mlflow/registered-models/alias?name=gemma-sft&alias=production   the version
    GET  /api/2.0/mlflow/registered-models/get?name=gemma-sft          (the client's prompt check)
    GET  /api/2.0/mlflow/model-versions/get-download-uri?name=gemma-sft&version=3
         -> {"artifact_uri": "mlflow-artifacts:/registry/gemma-sft/3"}
    GET  /api/3.0/mlflow/server-info                                   no multipart downloads
    GET  /api/2.0/mlflow-artifacts/artifacts?path=registry/gemma-sft/3[/<dir>]    one level
    GET  /api/2.0/mlflow-artifacts/artifacts/registry/gemma-sft/3/<path>          the bytes

A registered model is a `ModelArtifact`, a model version a ready (or archived) `ModelVersion`.
MLflow versions are numbers, so labels map to them: `vN` is `N`; any other label is
`CUSTOM_NUMBER_BASE + the version's id`, a number no `vN` label can take, fixed for the life of
the row (no migration; see `version_number`). Both appear on every version (`tunix_rt.label`).
Bytes come from the blob store through the API's fail-closed `file_response`, never the ZIP.
Errors are MLflow's `{"error_code", "message"}`; the client raises `RestException` from them.
"""

import base64
import binascii
import json
import re
import uuid
from urllib.parse import quote, unquote

from django.http import Http404, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from rest_framework.authentication import (
    BasicAuthentication,
    SessionAuthentication,
    TokenAuthentication,
)
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    MethodNotAllowed,
    NotAuthenticated,
    ParseError,
    PermissionDenied,
    Throttled,
)
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from registry.api import AnyContentNegotiation, check_downloads_enabled
from registry.choices import VersionStatus
from registry.downloads import file_response
from registry.exceptions import RegistryError
from registry.hub import BearerTokenAuthentication
from registry.labels import LABEL_PATTERN
from registry.mlflow_search import FilterError, parse_filter, parse_order_by
from registry.models import ModelAlias, ModelArtifact, ModelVersion
from registry.storage import ManifestEntry
from registry.stores import blob_store

# `vN` labels with N below this are version N; every other label is this plus the row's id.
CUSTOM_NUMBER_BASE = 1_000_000_000
CANONICAL_LABEL = re.compile(r"v([1-9][0-9]{0,8})")
VERSION_NUMBER = re.compile(r"[0-9]{1,19}")
# Row ids are 64-bit: a bigger one would overflow the query (SQLite) before it found nothing.
MAX_ROW_ID = 2**63 - 1
# What cannot stand in a `models:/<name>/<version>` or `models:/<name>@<alias>` URI, or in the
# artifact path: such a model is served under its repo id, `/` written `--` (as in Hub caches).
UNSAFE_NAME = re.compile(r"[/:@%?#\\\x00-\x1f\x7f]|^\s|\s$")
MAX_NAME_LENGTH = 200
ARTIFACT_ROOT = "registry"
# Versions MLflow sees: ready ones, and archived ones (stage `Archived`, metadata only).
SERVED = (VersionStatus.READY, VersionStatus.ARCHIVED)
STAGE_NONE, STAGE_ARCHIVED = "None", "Archived"
# MLflow stages read as our aliases of the same name, so `models:/name/Production` still works.
ALIAS_STAGES = {"production": "production", "staging": "staging"}
MODELS_PAGE_LIMIT = 1000
VERSIONS_PAGE_LIMIT = 10000

ERROR_NO_MODEL = "Registered Model with name={name!r} not found (or you may not read it)."
ERROR_NO_VERSION = "Model Version (name={name!r}, version={version!r}) not found."
ERROR_BAD_VERSION = "Version {version!r} is not a version number: MLflow versions are digits."
ERROR_NO_ALIAS = "Registered model alias {alias!r} not found for model {name!r}."
ERROR_BAD_STAGE = "Invalid stage {stage!r}: use None, Production, Staging or Archived."
ERROR_MISSING = "Missing value for required parameter {field!r}."
ERROR_BAD_INTEGER = "Invalid value {value!r} for parameter {field!r}: a positive integer."
ERROR_BAD_TOKEN = "Invalid page_token {token!r}."  # noqa: S105
ERROR_NO_ARTIFACT = "No artifact at {path!r}: paths are registry/<model>/<version>/<file>."
ERROR_NO_ENDPOINT = (
    "Tunix RT answers only the read side of MLflow's model registry; {method} {path} is not one "
    "of its routes. Writes (promotion, aliases, tags) go through the Tunix RT API (/api/docs/)."
)
ERROR_NO_CREDENTIALS = (
    "Authentication required: set MLFLOW_TRACKING_TOKEN to a Tunix RT API token (python "
    "manage.py drf_create_token USER), or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."
)
# Registry refusal codes and the MLflow error code and HTTP status each becomes.
MLFLOW_ERROR_BY_CODE = {
    "artifact_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "version_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "alias_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "revision_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "entry_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    # The files are gone; the version's metadata stays readable (stage `Archived`).
    "archived": ("RESOURCE_DOES_NOT_EXIST", 404),
    "not_downloadable": ("INVALID_STATE", 409),
    "blob_missing": ("INVALID_STATE", 409),
    "integrity_failed": ("INVALID_STATE", 409),
    "storage_failed": ("TEMPORARILY_UNAVAILABLE", 503),
    "invalid_parameter": ("INVALID_PARAMETER_VALUE", 400),
}


class MlflowError(RegistryError):
    """A refusal in MLflow's terms; `code` is one of MLFLOW_ERROR_BY_CODE's keys."""


def mlflow_error(error_code: str, message: str, status: int) -> JsonResponse:
    """Return MLflow's error body, which its client turns into `RestException(error_code)`."""
    return JsonResponse({"error_code": error_code, "message": message}, status=status)


def mlflow_exception_handler(exc, context):
    """Render every refusal (auth, download guard, throttling, the registry's) as MLflow's JSON."""
    if isinstance(exc, NotAuthenticated | AuthenticationFailed):
        message = ERROR_NO_CREDENTIALS if isinstance(exc, NotAuthenticated) else str(exc.detail)
        response = mlflow_error("UNAUTHENTICATED", message, 401)
        response["WWW-Authenticate"] = 'Basic realm="Tunix RT"'
        return response
    if isinstance(exc, PermissionDenied):
        return mlflow_error("PERMISSION_DENIED", str(exc.detail), 403)
    if isinstance(exc, Throttled):
        response = mlflow_error("REQUEST_LIMIT_EXCEEDED", str(exc.detail), 429)
        if exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, MethodNotAllowed):
        # The client moves on to a route's next endpoint only on ENDPOINT_NOT_FOUND.
        request = context["request"]
        return mlflow_error(
            "ENDPOINT_NOT_FOUND",
            ERROR_NO_ENDPOINT.format(method=request.method, path=request.path[:200]),
            405,
        )
    if isinstance(exc, ParseError):
        return mlflow_error("MALFORMED_REQUEST", str(exc.detail), 400)
    if isinstance(exc, FilterError):
        return mlflow_error("INVALID_PARAMETER_VALUE", str(exc), 400)
    if isinstance(exc, RegistryError):
        error_code, status = MLFLOW_ERROR_BY_CODE.get(exc.code, ("INVALID_PARAMETER_VALUE", 400))
        return mlflow_error(error_code, exc.message, status)
    if isinstance(exc, Http404):
        return mlflow_error("RESOURCE_DOES_NOT_EXIST", "Not found.", 404)
    if isinstance(exc, APIException):
        return mlflow_error("INVALID_PARAMETER_VALUE", str(exc.detail), exc.status_code)
    return None


# ---- names and numbers ------------------------------------------------------------------------


def mlflow_name(artifact: ModelArtifact) -> str | None:
    """Return the model's MLflow name: its name, or its repo id (`/` as `--`) if the name can't be.

    None for a model whose name cannot be an MLflow name and that has no repo id: not served.
    """
    if not UNSAFE_NAME.search(artifact.name):
        return artifact.name
    return artifact.repo_id.replace("/", "--") if artifact.repo_id else None


def find_artifact(name) -> ModelArtifact:
    """Return the model an MLflow name names (a name wins over a repo id); raise MlflowError."""
    refusal = MlflowError(ERROR_NO_MODEL.format(name=str(name)[:200]), code="artifact_not_found")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise refusal
    try:
        artifact = ModelArtifact.objects.get_by_name(name)
    except ModelArtifact.DoesNotExist:
        artifact = None
    if artifact is not None and mlflow_name(artifact) == artifact.name:
        return artifact
    try:
        artifact = ModelArtifact.objects.get_by_repo_id(name.replace("--", "/"))
    except ModelArtifact.DoesNotExist:
        raise refusal from None
    if (mlflow_name(artifact) or "").lower() != name.lower():
        raise refusal  # served under its own name, not its repo id
    return artifact


def version_number(version: ModelVersion) -> int:
    """Return the MLflow number of a version: N for label `vN`, else CUSTOM_NUMBER_BASE + its id.

    Derived, never stored: labels and ids never change, so neither does the number, and the two
    ranges cannot meet (`v1000000000` and up are custom labels too). A dense per-model counter
    for custom labels would need a column and a migration.
    """
    match = CANONICAL_LABEL.fullmatch(version.version)
    return int(match.group(1)) if match else CUSTOM_NUMBER_BASE + version.pk


def served_versions(artifact: ModelArtifact):
    """Return the versions of `artifact` MLflow sees (ready and archived), newest first."""
    return ModelVersion.objects.for_artifact(artifact).filter(status__in=SERVED)


def find_version(artifact: ModelArtifact, number) -> ModelVersion:
    """Return the version of `artifact` with MLflow number `number` (digits); raise MlflowError."""
    name = mlflow_name(artifact)
    if not isinstance(number, str) or not VERSION_NUMBER.fullmatch(number):
        raise MlflowError(
            ERROR_BAD_VERSION.format(version=str(number)[:100]), code="invalid_parameter"
        )
    value, found = int(number), None
    if 0 < value < CUSTOM_NUMBER_BASE:
        found = served_versions(artifact).filter(version=f"v{value}").first()
    elif CUSTOM_NUMBER_BASE < value <= CUSTOM_NUMBER_BASE + MAX_ROW_ID:
        found = served_versions(artifact).filter(pk=value - CUSTOM_NUMBER_BASE).first()
        if found is not None and CANONICAL_LABEL.fullmatch(found.version):
            found = None  # that row is `vN`, number N, not this one
    if found is None:
        raise MlflowError(
            ERROR_NO_VERSION.format(name=name, version=number), code="version_not_found"
        )
    return found


def version_by_alias(artifact: ModelArtifact, alias) -> ModelVersion:
    """Return the version alias `alias` of `artifact` points at; raise MlflowError."""
    refusal = MlflowError(
        ERROR_NO_ALIAS.format(alias=str(alias)[:100], name=mlflow_name(artifact)),
        code="alias_not_found",
    )
    if not isinstance(alias, str) or not LABEL_PATTERN.fullmatch(alias):
        raise refusal
    try:
        return ModelAlias.objects.resolve(artifact, alias)
    except RegistryError:
        raise refusal from None


def artifact_uri(artifact: ModelArtifact, version: ModelVersion) -> str:
    """Return `mlflow-artifacts:/registry/<model>/<N>`, the root the client lists and fetches."""
    name = quote(mlflow_name(artifact), safe="")
    return f"mlflow-artifacts:/{ARTIFACT_ROOT}/{name}/{version_number(version)}"


def millis(moment) -> int:
    """Return a datetime as MLflow's milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


# ---- shapes -----------------------------------------------------------------------------------


def tag_list(tags: dict[str, str]) -> list[dict]:
    """Return tags as MLflow lists them, `[{"key", "value"}]`."""
    return [{"key": key, "value": value} for key, value in tags.items()]


def model_tags(artifact: ModelArtifact) -> dict[str, str]:
    """Return a registered model's tags: what we know of it, under `tunix_rt.`."""
    tags = {"tunix_rt.name": artifact.name}
    if artifact.repo_id:
        tags["tunix_rt.repo_id"] = artifact.repo_id
    if artifact.task_type:
        tags["tunix_rt.task_type"] = artifact.task_type
    return tags


def version_tags(version: ModelVersion) -> dict[str, str]:
    """Return a version's tags: ours as keys with empty values, then label, digest and metrics."""
    # MLflow reserves `mlflow.`: its client hides a version tagged `mlflow.prompt.is_prompt`.
    tags = dict.fromkeys((t for t in version.tags if not t.startswith("mlflow.")), "")
    tags.update(
        {
            "tunix_rt.label": version.version,
            "tunix_rt.sha256": version.sha256,
            "tunix_rt.commit": version.commit,
            "tunix_rt.status": version.status,
        }
    )
    if version.layout:
        tags["tunix_rt.layout"] = version.layout
    for metric in version.metrics.all():
        tags[f"tunix_rt.metric.{metric.key}"] = repr(metric.value)
    return tags


def version_record(version: ModelVersion, aliases: list[str]) -> dict:
    """Return a version as MLflow's ModelVersion; `aliases` are the names pointing at it."""
    artifact = version.artifact
    archived = version.status == VersionStatus.ARCHIVED
    run_id = str(version.source_run_id) if version.source_run_id else ""
    return {
        "name": mlflow_name(artifact),
        "version": str(version_number(version)),
        "creation_timestamp": millis(version.created_at),
        # Content is immutable: only tags change, and MLflow keeps no tag history either.
        "last_updated_timestamp": millis(version.created_at),
        "user_id": version.provenance_json.get("promoted_by") or "",
        "current_stage": STAGE_ARCHIVED if archived else STAGE_NONE,
        "description": f"Tunix RT version {version.version} of {artifact.name}",
        "source": artifact_uri(artifact, version),
        "run_id": run_id or version.provenance_json.get("run_id") or "",
        "status": "READY",
        "status_message": (
            "Archived by the model's retention policy: its files are no longer kept."
            if archived
            else ""
        ),
        "tags": tag_list(version_tags(version)),
        "aliases": sorted(aliases),
    }


def aliases_by_version(versions) -> dict[int, list[str]]:
    """Return {version id: alias names} for `versions`, in one query."""
    found: dict[int, list[str]] = {}
    rows = ModelAlias.objects.filter(version__in=[v.pk for v in versions])
    for version_id, name in rows.values_list("version_id", "name"):
        found.setdefault(version_id, []).append(name)
    return found


def version_records(versions) -> list[dict]:
    """Return MLflow ModelVersions for `versions` (artifact and metrics loaded)."""
    aliases = aliases_by_version(versions)
    return [version_record(v, aliases.get(v.pk, [])) for v in versions]


def with_related(versions):
    """Return `versions` with what their records read loaded alongside."""
    return versions.select_related("artifact").prefetch_related("metrics")


def model_records(artifacts: list[ModelArtifact]) -> list[dict]:
    """Return MLflow RegisteredModels for `artifacts`, with aliases and the newest ready version."""
    newest = {
        version.artifact_id: version
        for version in with_related(
            ModelVersion.objects.filter(pk__in=[a.latest_version_id for a in artifacts])
        )
    }
    newest_records = dict(zip(newest, version_records(list(newest.values())), strict=True))
    aliases: dict[int, list[dict]] = {}
    pointed = ModelAlias.objects.filter(
        artifact__in=artifacts, version__isnull=False
    ).select_related("version")
    for alias in pointed.order_by("name"):
        aliases.setdefault(alias.artifact_id, []).append(
            {"alias": alias.name, "version": str(version_number(alias.version))}
        )
    records = []
    for artifact in artifacts:
        latest = newest_records.get(artifact.pk)
        records.append(
            {
                "name": mlflow_name(artifact),
                "creation_timestamp": millis(artifact.created_at),
                "last_updated_timestamp": millis(artifact.updated_at),
                "description": artifact.description,
                "tags": tag_list(model_tags(artifact)),
                "aliases": aliases.get(artifact.pk, []),
                "latest_versions": [latest] if latest else [],
            }
        )
    return records


def annotated_artifact(artifact: ModelArtifact) -> ModelArtifact:
    """Return `artifact` reloaded with `latest_version_id`, as model_records needs."""
    return ModelArtifact.objects.with_latest_version().get(pk=artifact.pk)


# ---- searches ---------------------------------------------------------------------------------

MODEL_FIELDS = {"name": str, "tags": str}
MODEL_ORDER_FIELDS = {"name", "creation_timestamp", "last_updated_timestamp", "timestamp"}
VERSION_FIELDS = {"name": str, "run_id": str, "version_number": int, "tags": str}
VERSION_ORDER_FIELDS = MODEL_ORDER_FIELDS | {"version_number"}


def equal_to(clauses, field: str) -> str | None:
    """Return the value of the first `field = '...'` clause, which narrows the query; else None."""
    return next((c.value for c in clauses if c.field == field and c.comparator == "="), None)


def newest_in_stage(artifact: ModelArtifact, stage: str) -> ModelVersion | None:
    """Return the newest version of `artifact` in MLflow stage `stage`; raise MlflowError."""
    key = stage.strip().lower()
    if key == "none":
        return served_versions(artifact).ready().first()
    if key == "archived":
        return served_versions(artifact).filter(status=VersionStatus.ARCHIVED).first()
    if key in ALIAS_STAGES:
        try:
            return ModelAlias.objects.resolve(artifact, ALIAS_STAGES[key])
        except RegistryError:
            return None
    raise MlflowError(ERROR_BAD_STAGE.format(stage=stage[:60]), code="invalid_parameter")


def latest_versions(artifact: ModelArtifact, stages: list[str]) -> list[ModelVersion]:
    """Return the newest version in each of `stages` (default `None`: ready), loaded for records."""
    wanted = {
        version.pk
        for stage in stages or [STAGE_NONE]
        if (version := newest_in_stage(artifact, stage)) is not None
    }
    return list(with_related(served_versions(artifact)).filter(pk__in=wanted))


def matching_models(clauses, order) -> list[ModelArtifact]:
    """Return the served models `clauses` match, by name unless `order` says otherwise."""
    artifacts = ModelArtifact.objects.with_latest_version()
    if (name := equal_to(clauses, "name")) is not None:
        try:
            artifacts = artifacts.filter(pk=find_artifact(name).pk)
        except MlflowError:
            artifacts = artifacts.none()
    found = []
    for artifact in artifacts:
        record = {"name": mlflow_name(artifact), "tags": model_tags(artifact)}
        if record["name"] is not None and all(c.matches(record) for c in clauses):
            found.append(artifact)
    by_name = sorted(found, key=lambda a: mlflow_name(a).casefold())
    return sort(
        by_name,
        order,
        lambda a, field: {
            "name": mlflow_name(a).casefold(),
            "creation_timestamp": a.created_at,
        }.get(field, a.updated_at),
    )


def matching_versions(clauses, order) -> list[ModelVersion]:
    """Return the served versions `clauses` match, newest first unless `order` says otherwise.

    `name = '...'` and `run_id = '...'` narrow the query; the rest is matched in Python.
    """
    versions = ModelVersion.objects.filter(status__in=SERVED).order_by("-created_at", "-id")
    if (name := equal_to(clauses, "name")) is not None:
        try:
            versions = served_versions(find_artifact(name))
        except MlflowError:
            versions = versions.none()
    if (run_id := equal_to(clauses, "run_id")) is not None:
        # Run ids are UUIDs: anything else names no run (and must not reach the query).
        try:
            versions = versions.filter(source_run_id=uuid.UUID(run_id))
        except ValueError:
            versions = versions.none()
    found = []
    for version in with_related(versions):
        record = {
            "name": mlflow_name(version.artifact),
            "run_id": str(version.source_run_id or ""),
            "version_number": version_number(version),
            "tags": version_tags(version),
        }
        if record["name"] is not None and all(c.matches(record) for c in clauses):
            found.append(version)
    return sort(
        found,
        order,
        lambda v, field: {
            "name": mlflow_name(v.artifact).casefold(),
            "version_number": version_number(v),
        }.get(field, v.created_at),
    )


# ---- parameters and paging --------------------------------------------------------------------


def parameter(request, field: str, *, required: bool = True) -> str | None:
    """Return one parameter from the query string (GET) or the JSON body (POST)."""
    source = request.query_params if request.method == "GET" else request.data
    value = source.get(field) if hasattr(source, "get") else None
    if value in (None, "") and required:
        raise MlflowError(ERROR_MISSING.format(field=field), code="invalid_parameter")
    if value is not None and not isinstance(value, str | int):
        raise MlflowError(ERROR_MISSING.format(field=field), code="invalid_parameter")
    return None if value is None else str(value)


def parameter_list(request, field: str) -> list[str]:
    """Return a repeated parameter (`stages`, `order_by`) from the query string or the body."""
    if request.method == "GET":
        return request.query_params.getlist(field)
    value = request.data.get(field) if hasattr(request.data, "get") else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MlflowError(ERROR_MISSING.format(field=field), code="invalid_parameter")
    return value


def page_size(request, *, default: int, limit: int) -> int:
    """Return `max_results`, at most `limit` (the rest comes with a page token)."""
    value = parameter(request, "max_results", required=False)
    if value is None:
        return default
    if not re.fullmatch(r"[0-9]{1,100}", value) or int(value) < 1:
        raise MlflowError(
            ERROR_BAD_INTEGER.format(value=value[:40], field="max_results"),
            code="invalid_parameter",
        )
    return min(int(value), limit)


def page_offset(request) -> int:
    """Return the offset a page token carries (ours: base64 of `{"offset": n}`)."""
    token = parameter(request, "page_token", required=False)
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()[:200]))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise MlflowError(ERROR_BAD_TOKEN.format(token=token[:60]), code="invalid_parameter")
    return offset


def page(items: list, *, offset: int, size: int) -> tuple[list, str | None]:
    """Return one page of `items` and the token of the next, None on the last."""
    chosen = items[offset : offset + size]
    if offset + size >= len(items):
        return chosen, None
    token = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
    return chosen, token


def sort(items: list, keys: list[tuple[str, bool]], value) -> list:
    """Return `items` sorted by each (field, descending), the first the most significant."""
    for field, descending in reversed(keys):
        items = sorted(items, key=lambda item, f=field: value(item, f), reverse=descending)
    return items


# ---- views ------------------------------------------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class MlflowView(APIView):
    """An MLflow route: our tokens (Bearer too) or users (Basic), the API's read rules."""

    authentication_classes = [
        BearerTokenAuthentication,
        TokenAuthentication,
        BasicAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsAuthenticated]
    content_negotiation_class = AnyContentNegotiation
    # MLflow's protocol, documented in docs/mlflow.md, not in our OpenAPI schema.
    schema = None

    def get_exception_handler(self):
        return mlflow_exception_handler


class SearchRegisteredModelsView(MlflowView):
    """`GET registered-models/search`: models matching `filter`, ordered and paged."""

    def get(self, request):
        clauses = parse_filter(parameter(request, "filter", required=False), fields=MODEL_FIELDS)
        order = parse_order_by(parameter_list(request, "order_by"), fields=MODEL_ORDER_FIELDS)
        size = page_size(request, default=100, limit=MODELS_PAGE_LIMIT)
        chosen, token = page(
            matching_models(clauses, order), offset=page_offset(request), size=size
        )
        body = {"registered_models": model_records(chosen)}
        if token:
            body["next_page_token"] = token
        return JsonResponse(body)


class GetRegisteredModelView(MlflowView):
    """`GET registered-models/get?name=`: one model, its aliases and newest version."""

    def get(self, request):
        artifact = find_artifact(parameter(request, "name"))
        return JsonResponse({"registered_model": model_records([annotated_artifact(artifact)])[0]})


class GetLatestVersionsView(MlflowView):
    """`POST`/`GET registered-models/get-latest-versions`: the newest version per stage.

    No stages: the newest ready version only, so the client's `models:/name/latest` (the highest
    number it is given) is our `latest`. `Production`/`Staging` read the alias of that name;
    `Archived` the newest archived version.
    """

    def post(self, request):
        artifact = find_artifact(parameter(request, "name"))
        found = latest_versions(artifact, parameter_list(request, "stages"))
        return JsonResponse({"model_versions": version_records(found)})

    get = post


class GetModelVersionByAliasView(MlflowView):
    """`GET registered-models/alias?name=&alias=`: the version an alias points at now."""

    def get(self, request):
        artifact = find_artifact(parameter(request, "name"))
        version = version_by_alias(artifact, parameter(request, "alias"))
        return JsonResponse({"model_version": self.record(version)})

    @staticmethod
    def record(version: ModelVersion) -> dict:
        loaded = with_related(ModelVersion.objects.filter(pk=version.pk)).get()
        return version_records([loaded])[0]


class GetModelVersionView(MlflowView):
    """`GET model-versions/get?name=&version=`: one version by its MLflow number."""

    def get(self, request):
        artifact = find_artifact(parameter(request, "name"))
        version = find_version(artifact, parameter(request, "version"))
        return JsonResponse({"model_version": GetModelVersionByAliasView.record(version)})


class GetDownloadUriView(MlflowView):
    """`GET model-versions/get-download-uri`: where the client lists and fetches the files."""

    def get(self, request):
        artifact = find_artifact(parameter(request, "name"))
        version = find_version(artifact, parameter(request, "version"))
        version.ensure_downloadable()
        return JsonResponse({"artifact_uri": artifact_uri(artifact, version)})


class SearchModelVersionsView(MlflowView):
    """`GET model-versions/search`: versions matching `filter` (name, run_id, tags), paged."""

    def get(self, request):
        clauses = parse_filter(parameter(request, "filter", required=False), fields=VERSION_FIELDS)
        order = parse_order_by(parameter_list(request, "order_by"), fields=VERSION_ORDER_FIELDS)
        size = page_size(request, default=VERSIONS_PAGE_LIMIT, limit=VERSIONS_PAGE_LIMIT)
        chosen, token = page(
            matching_versions(clauses, order), offset=page_offset(request), size=size
        )
        body = {"model_versions": version_records(chosen)}
        if token:
            body["next_page_token"] = token
        return JsonResponse(body)


def artifact_version(path: str) -> tuple[ModelArtifact, ModelVersion, str]:
    """Return the model, version and file path `registry/<model>/<N>[/<path>]` names.

    Refuses archived versions and those not ready, as every download does.
    """
    parts = path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[0] != ARTIFACT_ROOT:
        raise MlflowError(ERROR_NO_ARTIFACT.format(path=path[:200]), code="entry_not_found")
    artifact = find_artifact(unquote(parts[1]))
    version = find_version(artifact, parts[2])
    version.ensure_downloadable()
    return artifact, version, parts[3] if len(parts) == 4 else ""


class ListArtifactsView(MlflowView):
    """`GET mlflow-artifacts/artifacts?path=`: one directory level of a version's files.

    Entries are named relative to the listed directory; a file's path lists as nothing, as
    MLflow's own server answers.
    """

    def get(self, request):
        _, version, directory = artifact_version(parameter(request, "path"))
        prefix = f"{directory.strip('/')}/" if directory.strip("/") else ""
        entries: dict[str, dict] = {}
        for file in version.files.all():
            if not file.path.startswith(prefix):
                continue
            first, _, rest = file.path[len(prefix) :].partition("/")
            if rest:
                entries.setdefault(first, {"path": first, "is_dir": True})
            else:
                entries[first] = {"path": first, "is_dir": False, "file_size": file.size_bytes}
        ordered = [entries[key] for key in sorted(entries, key=lambda p: p.encode("utf-8"))]
        return JsonResponse({"files": ordered})


class DownloadArtifactView(MlflowView):
    """`GET mlflow-artifacts/artifacts/registry/<model>/<N>/<path>`: one file, streamed."""

    def get(self, request, path):
        _, version, file_path = artifact_version(path)
        entry = version.files.filter(path=file_path).first() if file_path else None
        if entry is None:
            raise MlflowError(ERROR_NO_ARTIFACT.format(path=path[:200]), code="entry_not_found")
        check_downloads_enabled()
        # The API's single-file path: fail-closed (a changed blob is never served whole).
        return file_response(
            request,
            blob_store(),
            ManifestEntry(entry.path, entry.size_bytes, entry.sha256),
            filename=file_path.rsplit("/", 1)[-1],
            guard=version.integrity_guard(user=request.user, paths={entry.path}),
        )


def server_info(request):
    """Answer the client's capability probe without the database: no multipart transfers."""
    if request.method not in ("GET", "HEAD"):
        return unknown_route(request)
    return JsonResponse({"multipart_downloads_enabled": False, "multipart_uploads_enabled": False})


@csrf_exempt
def unknown_route(request, path=""):
    """Answer any other MLflow path (writes included) with ENDPOINT_NOT_FOUND, as JSON."""
    return mlflow_error(
        "ENDPOINT_NOT_FOUND",
        ERROR_NO_ENDPOINT.format(method=request.method[:10], path=request.path[:200]),
        404,
    )
