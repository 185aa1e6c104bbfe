"""Settings for Tunix RT, read from the environment (and an optional `.env`) via django-environ.

Every variable read here is listed, with its default, in `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# --------------------------------------------------------------------------------------------------
# Core
# --------------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment (or .env), "
            "or set DEBUG=true for local development."
        )
    # Development only: a fixed key is harmless when DEBUG is on and nothing is exposed.
    SECRET_KEY = "django-insecure-tunix-rt-development-key-not-for-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "runs",
    "tuning",
    "registry",
    # After `runs`, so its db_worker (which first fails runs whose worker vanished) is the one used.
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that queries (sessions, authentication, django-axes): see its docstring.
    "config.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The registry's actions on run pages: runs must not know the registry.
                "registry.context_processors.run_actions",
            ],
        },
    },
]

# --------------------------------------------------------------------------------------------------
# Database: SQLite by default (nothing to install), PostgreSQL in production via DATABASE_URL.
# --------------------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The same backend, refreshing the query planner's statistics as connections close.
    DATABASES["default"]["ENGINE"] = "config.sqlite3"
    # The default database lives in var/, which a fresh clone does not have yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, commands) share one file: wait for the lock, do not fail.
    # IMMEDIATE transactions take the write lock at BEGIN, so two promotions queue up instead of
    # failing with "database is locked" when both try to upgrade a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --------------------------------------------------------------------------------------------------
# Files: run outputs and the model registry live under MEDIA_ROOT unless told otherwise.
# --------------------------------------------------------------------------------------------------
def path_setting(name: str, default: Path) -> Path:
    """Read a directory setting: empty means the default, relative means under BASE_DIR."""
    value = env.str(name, default="")
    path = Path(value).expanduser() if value else default
    return (path if path.is_absolute() else BASE_DIR / path).resolve()


MEDIA_ROOT = path_setting("MEDIA_ROOT", BASE_DIR / "var" / "media")
MEDIA_URL = "/media/"
RUNS_ROOT = path_setting("RUNS_ROOT", MEDIA_ROOT / "runs")
MODEL_REGISTRY_PATH = path_setting("MODEL_REGISTRY_PATH", MEDIA_ROOT / "model_registry")
# Where blobs and manifests live: empty for the directory MODEL_REGISTRY_PATH, or an S3-compatible
# object store, "s3://bucket/prefix" (docs/deployment.md). Credentials come from the standard AWS
# variables or files (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...).
REGISTRY_STORAGE_URL = env.str("REGISTRY_STORAGE_URL", default="")
# The S3 API's address for MinIO, R2, GCS and the like (empty: AWS's own for the region).
REGISTRY_S3_ENDPOINT_URL = env.str("REGISTRY_S3_ENDPOINT_URL", default="")
REGISTRY_S3_REGION = env.str("REGISTRY_S3_REGION", default="")
# Single-file downloads of verified blobs redirect to a presigned URL valid this long (seconds),
# so the bytes go from the store to the client; 0 streams them through the app instead.
REGISTRY_S3_PRESIGN_SECONDS = env.int("REGISTRY_S3_PRESIGN_SECONDS", default=300)
# Directories a run's output_dir may live under; promotion never reads bytes from elsewhere.
RUN_ROOTS = [
    (Path(root) if Path(root).is_absolute() else BASE_DIR / root).resolve()
    for root in [r for r in env.list("RUN_ROOTS", default=[]) if r.strip()] or [str(RUNS_ROOT)]
]

# Versions carrying one of these tags are never archived by a model's retention policy.
REGISTRY_PROTECTED_TAGS = env.list("REGISTRY_PROTECTED_TAGS", default=["production"])
# registry_gc never removes a blob or temporary file younger than this: it may belong to a
# promotion still in flight (see docs/security.md).
REGISTRY_GC_GRACE_SECONDS = env.int("REGISTRY_GC_GRACE_SECONDS", default=3600)

# Request bodies (JSON metrics and configs) above this are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)

# --------------------------------------------------------------------------------------------------
# Execution: the task queue (Django's Tasks API, database backend) and the allowed trainers.
# --------------------------------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
RUN_TRAINERS = env.list(
    "RUN_TRAINERS", default=["runs.trainers.tunix_lora_sft", "runs.trainers.lora_demo"]
)
# Directories a launched run may read its base checkpoint and dataset from (the Tunix trainer's
# `base_model` and `dataset`); `load_demo` writes the tiny demo model and dataset into the first.
TRAINING_INPUT_ROOTS = [
    (Path(root) if Path(root).is_absolute() else BASE_DIR / root).resolve()
    for root in [r for r in env.list("TRAINING_INPUT_ROOTS", default=[]) if r.strip()]
    or [str(MEDIA_ROOT / "inputs")]
]
# Where Ray Tune keeps its own trial state (results stay in the database and RUNS_ROOT).
RAY_STORAGE_PATH = path_setting("RAY_STORAGE_PATH", MEDIA_ROOT / "ray")
# The Ray cluster tuning jobs join unless a job names its own (`ray start --head`'s host:port);
# empty starts Ray on this machine for each job. See "Running on a Ray cluster" in docs/tuning.md.
RAY_ADDRESS = env.str("RAY_ADDRESS", default="")

# Streaming multi-gigabyte files from Django is a choice to make deliberately in production.
REGISTRY_DOWNLOADS_ENABLED = env.bool("REGISTRY_DOWNLOADS_ENABLED", default=False)
# A ZIP's verified blobs go from the page cache to the client's socket by sendfile() where the
# server allows it (gunicorn's sync and gthread workers, without TLS); false: always through Python.
REGISTRY_ZIP_SENDFILE = env.bool("REGISTRY_ZIP_SENDFILE", default=True)
# Hand single-file downloads of verified blobs to the reverse proxy (docs/deployment.md): nginx's
# internal location that maps to MODEL_REGISTRY_PATH/blobs/sha256/ (e.g. "/_registry_blobs/"),
# or the header Apache's mod_xsendfile or Caddy read a file path from (e.g. "X-Sendfile").
REGISTRY_ACCEL_REDIRECT_PREFIX = env.str("REGISTRY_ACCEL_REDIRECT_PREFIX", default="")
REGISTRY_SENDFILE_HEADER = env.str("REGISTRY_SENDFILE_HEADER", default="")

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Without collectstatic (tests, a quick start with DEBUG off) whitenoise finds files in place.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# --------------------------------------------------------------------------------------------------
# Authentication and security
# --------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins per user name and address and locks them out for a while.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Quiet at start-up: commands such as import_run print ids that scripts capture.
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs:run-list"
LOGOUT_REDIRECT_URL = "login"

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --------------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    # Reads need a logged-in user; writes also need the model's Django permissions.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "rest_framework.permissions.DjangoModelPermissions",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.http_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tunix RT API",
    "DESCRIPTION": "Runs, tuning jobs and the model registry of Tunix RT.",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.lifecycle.RunStatus",
        "EvalStatusEnum": "runs.lifecycle.EvalStatus",
        "VersionStatusEnum": "registry.models.VersionStatus",
        "FileCheckStatusEnum": ["ok", "missing", "mismatch"],
    },
}

# --------------------------------------------------------------------------------------------------
# Internationalisation
# --------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --------------------------------------------------------------------------------------------------
# Logging: to the console, so `make run` and the worker show what happens.
# --------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
