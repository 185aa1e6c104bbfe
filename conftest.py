"""Test isolation shared by every app: each test gets its own media, runs and registry folders.

`REGISTRY_TEST_STORE=s3` runs the same tests with the registry's blobs in a fresh bucket of a
real S3-protocol server (moto's, on loopback) instead of a directory.
"""

import os

import pytest

S3_MATRIX = os.environ.get("REGISTRY_TEST_STORE", "filesystem") == "s3"


def pytest_collection_modifyitems(config, items):
    """Under the S3 matrix, skip tests of the directory store's own mechanisms."""
    if not S3_MATRIX:
        return
    skip = pytest.mark.skip(reason="the directory store's own mechanism (REGISTRY_TEST_STORE=s3)")
    for item in items:
        if item.get_closest_marker("filesystem_store"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server for the session (its own process, HTTP on loopback); yield its URL."""
    from registry.tests.s3server import CREDENTIALS, moto_server

    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with moto_server() as endpoint:
            yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_store(s3_server, settings):
    """Keep the registry's blobs in a fresh bucket of the S3 server; return the store."""
    from registry.stores import blob_store
    from registry.tests.s3server import create_bucket

    settings.REGISTRY_STORAGE_URL = f"s3://{create_bucket(s3_server)}/registry"
    settings.REGISTRY_S3_ENDPOINT_URL = s3_server
    settings.REGISTRY_S3_REGION = "us-east-1"
    return blob_store()


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path, request):
    """Point MEDIA_ROOT, RUNS_ROOT, MODEL_REGISTRY_PATH and the input roots at a fresh folder
    (and, under the S3 matrix, the store at a fresh bucket)."""
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.RUNS_ROOT = media / "runs"
    settings.RUN_ROOTS = [settings.RUNS_ROOT]
    settings.MODEL_REGISTRY_PATH = media / "model_registry"
    settings.RAY_STORAGE_PATH = media / "ray"
    settings.TRAINING_INPUT_ROOTS = [media / "inputs"]
    settings.RUNS_ROOT.mkdir(parents=True)
    if S3_MATRIX:
        # Bytes stream through the app, so every download test checks the fail-closed path;
        # test_s3_downloads covers the presigned redirects.
        settings.REGISTRY_S3_PRESIGN_SECONDS = 0
        request.getfixturevalue("s3_store")
    return media


@pytest.fixture
def runs_root(settings):
    """The per-test directory run outputs must live under."""
    return settings.RUNS_ROOT


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test users' passwords cheaply: PBKDF2's cost protects nothing in a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    """Serve static files without the manifest, which only `collectstatic` builds."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def fresh_cache():
    """Start every test with empty caches: API throttle counters live there."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def api_client():
    """An API client with no credentials."""
    from rest_framework.test import APIClient

    return APIClient()


# Data migrations that build the `curators` group, and the function in each that does it.
CURATOR_MIGRATIONS = [
    ("registry.migrations.0002_curators_group", "create_curators"),
    ("registry.migrations.0004_curators_aliases_and_metric_backfill", "forwards"),
    ("tuning.migrations.0002_curators_can_tune", "forwards"),
]


@pytest.fixture
def curators_group(db):
    """The curators group, rebuilt if a transactional test flushed what migrations created."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="curators").exists():
        for module, function in CURATOR_MIGRATIONS:
            getattr(importlib.import_module(module), function)(apps, None)
    return Group.objects.get(name="curators")


# A real Tunix training is ~15 s on two cores: tests that only need *a* trained run share this one.
TUNIX_TEST_STEPS = 30


@pytest.fixture(scope="session")
def tunix_inputs(tmp_path_factory):
    """The tiny Qwen3 base checkpoint and SFT dataset, written once per test session."""
    from runs.tunix.tiny import write_tiny_dataset, write_tiny_qwen3

    root = tmp_path_factory.mktemp("tunix-inputs")
    return write_tiny_qwen3(root / "tiny-qwen3"), write_tiny_dataset(root / "tiny-sft.jsonl")


@pytest.fixture(scope="session")
def tunix_trained(tunix_inputs, tmp_path_factory):
    """One real Tunix LoRA SFT run of the tiny model (no database): output dir, metrics, reports."""
    import time

    from runs.execution import run_training

    base, dataset = tunix_inputs
    output = tmp_path_factory.mktemp("tunix-run") / "output"
    reports = []
    started = time.monotonic()
    final = run_training(
        "runs.trainers.tunix_lora_sft",
        {"base_model": str(base), "dataset": str(dataset), "steps": TUNIX_TEST_STEPS},
        output,
        on_report=lambda metrics: reports.append((time.monotonic() - started, dict(metrics))),
        allowed_trainers=["runs.trainers.tunix_lora_sft"],
    )
    return {
        "output": output,
        "final": final,
        "reports": reports,
        "seconds": time.monotonic() - started,
        "base": base,
        "dataset": dataset,
        "steps": TUNIX_TEST_STEPS,
    }
