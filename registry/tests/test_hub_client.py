"""The real huggingface_hub client against a live server on loopback: `HF_ENDPOINT` pulls from us.

The client reads HF_ENDPOINT when it is imported, so each call runs in a fresh Python process
with its own HF_HOME; the server runs in this process (pytest-django's live_server).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelArtifactFactory, promotable_run
from runs.tests.factories import TunixRunFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REPO = "acme/gemma-sft"


@pytest.fixture(autouse=True)
def _downloads(settings):
    settings.REGISTRY_DOWNLOADS_ENABLED = True


@pytest.fixture
def token(db):
    return Token.objects.create(user=UserFactory()).key


@pytest.fixture
def artifact(db):
    return ModelArtifactFactory(repo_id=REPO)


def promote(artifact, *, seed: int, layout: str = "lora", label: str | None = None):
    version, _ = ModelVersion.objects.promote(
        artifact, promotable_run(layout=layout, seed=seed), version=label
    )
    return version


@pytest.fixture
def client_env(live_server, tmp_path, token):
    """Environment of a client process: our endpoint, a per-test cache, the token, no network."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_"))
    }
    env.update(
        HF_ENDPOINT=f"{live_server.url}/hf",
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_TOKEN=token,
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def run_client(env: dict, code: str) -> dict:
    """Run `code` in a new interpreter; it sets `result`, returned here (or the error it raised)."""
    script = textwrap.dedent(
        """
        import json, huggingface_hub
        from huggingface_hub import errors
        try:
        {body}
            out = {{"result": result}}
        except Exception as exc:
            out = {{"error": type(exc).__name__, "message": str(exc),
                    "mro": [k.__name__ for k in type(exc).__mro__]}}
        print("RESULT:" + json.dumps(out))
        """
    ).format(body=textwrap.indent(textwrap.dedent(code), "    "))
    finished = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, finished.stderr[-3000:]
    return {**json.loads(lines[-1].removeprefix("RESULT:")), "stderr": finished.stderr[-2000:]}


def snapshot(env, revision: str, **kwargs) -> dict:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return run_client(
        env,
        f"""
        result = huggingface_hub.snapshot_download({REPO!r}, revision={revision!r}, {args})
        """,
    )


def tree_digests(directory: str) -> dict[str, str]:
    root = Path(directory)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def manifest_digests(version) -> dict[str, str]:
    return {entry.path: entry.sha256 for entry in version.manifest()}


def test_snapshot_by_alias_holds_the_versions_bytes(artifact, client_env):
    version = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", version)

    out = snapshot(client_env, "production")

    assert tree_digests(out["result"]) == manifest_digests(version)


def test_snapshot_lands_under_the_versions_commit_id(artifact, client_env):
    version = promote(artifact, seed=1)

    out = snapshot(client_env, "latest")

    assert Path(out["result"]).name == version.commit


def test_snapshot_by_label(artifact, client_env):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)

    out = snapshot(client_env, first.version)

    assert tree_digests(out["result"]) == manifest_digests(first)


def test_snapshot_by_commit_id(artifact, client_env):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)

    out = snapshot(client_env, first.commit)

    assert tree_digests(out["result"]) == manifest_digests(first)


def test_main_is_the_newest_version(artifact, client_env):
    promote(artifact, seed=1)
    newest = promote(artifact, seed=2)

    out = snapshot(client_env, "main")

    assert tree_digests(out["result"]) == manifest_digests(newest)


def test_main_follows_an_alias_named_main(artifact, client_env):
    first = promote(artifact, seed=1)
    promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "main", first)

    out = snapshot(client_env, "main")

    assert tree_digests(out["result"]) == manifest_digests(first)


def test_moving_an_alias_is_seen_by_the_next_download(artifact, client_env):
    first, second = promote(artifact, seed=1), promote(artifact, seed=2)
    ModelAlias.objects.point(artifact, "production", first)
    snapshot(client_env, "production")
    ModelAlias.objects.point(artifact, "production", second)

    out = snapshot(client_env, "production")

    assert tree_digests(out["result"]) == manifest_digests(second)


def test_allow_patterns_fetch_only_matching_files(artifact, client_env):
    promote(artifact, seed=1)

    out = snapshot(client_env, "latest", allow_patterns=["*.json"])

    assert list(tree_digests(out["result"])) == ["adapter_config.json"]


def test_a_paged_tree_listing_is_followed_to_the_end(artifact, client_env, monkeypatch):
    from registry import hub

    version = promote(artifact, seed=1, layout="full")
    monkeypatch.setattr(hub, "TREE_PAGE_SIZE", 1)

    out = snapshot(client_env, "latest")

    assert tree_digests(out["result"]) == manifest_digests(version)


def test_unknown_repo_raises_repository_not_found(artifact, client_env):
    promote(artifact, seed=1)

    out = run_client(client_env, "result = huggingface_hub.snapshot_download('acme/nothing-here')")

    assert out["error"] == "RepositoryNotFoundError"


def test_unknown_revision_raises_revision_not_found(artifact, client_env):
    promote(artifact, seed=1)

    out = snapshot(client_env, "v99")

    assert out["error"] == "RevisionNotFoundError"


def test_unknown_file_raises_entry_not_found(artifact, client_env):
    promote(artifact, seed=1)

    out = run_client(
        client_env,
        f"result = huggingface_hub.hf_hub_download({REPO!r}, 'tokenizer.json')",
    )

    assert "EntryNotFoundError" in out["mro"]


def test_archived_version_is_refused_as_gone(artifact, client_env):
    old = promote(artifact, seed=1)
    artifact.keep_last_versions = 1
    artifact.save()
    promote(artifact, seed=2)
    old.refresh_from_db()
    assert old.status == "archived"

    out = snapshot(client_env, old.version)

    assert (out["error"], "archived" in out["message"]) == ("RevisionNotFoundError", True)


def test_no_token_reads_as_repository_not_found(artifact, client_env):
    promote(artifact, seed=1)
    del client_env["HF_TOKEN"]

    out = snapshot(client_env, "latest", token=False)

    assert (out["error"], "HF_TOKEN" in out["message"]) == ("RepositoryNotFoundError", True)


def test_bad_token_is_reported_as_bad_credentials(artifact, client_env):
    promote(artifact, seed=1)
    client_env["HF_TOKEN"] = "not-a-token"

    out = snapshot(client_env, "latest")

    assert (out["error"], "Invalid credentials" in out["message"]) == ("HfHubHTTPError", True)


def test_disabled_downloads_say_how_to_enable_them(artifact, client_env, settings):
    promote(artifact, seed=1)
    settings.REGISTRY_DOWNLOADS_ENABLED = False
    settings.DEBUG = False

    out = snapshot(client_env, "latest")

    assert (out["error"], "REGISTRY_DOWNLOADS_ENABLED" in out["message"]) == (
        "GatedRepoError",
        True,
    )


def test_interrupted_download_resumes_with_a_range(artifact, client_env, monkeypatch):
    from registry import hub

    # The client hands on bytes in 10 MiB chunks: a cut after 12 MiB leaves one of them on disk.
    run = promotable_run(layout="full", seed=1)
    (Path(run.output_dir) / "model.safetensors").write_bytes(os.urandom(24 * 2**20))
    version, _ = ModelVersion.objects.promote(artifact, run)
    entry = version.files.get(path="model.safetensors")
    real_file_response, ranges = hub.file_response, []

    def cut_after(chunks, limit: int):
        # The body stops short of its Content-Length: to the client, a stalled connection.
        sent = 0
        for chunk in chunks:
            yield chunk[: limit - sent]
            sent += len(chunk)
            if sent >= limit:
                return

    def first_get_drops(request, *args, **kwargs):
        response = real_file_response(request, *args, **kwargs)
        ranges.append(request.headers.get("Range"))
        if request.method == "GET" and len(ranges) == 2:  # after the client's HEAD
            response.streaming_content = cut_after(response.streaming_content, 12 * 2**20)
        return response

    monkeypatch.setattr(hub, "file_response", first_get_drops)
    client_env["HF_HUB_DOWNLOAD_TIMEOUT"] = "2"

    out = run_client(
        client_env, f"result = huggingface_hub.hf_hub_download({REPO!r}, 'model.safetensors')"
    )

    assert ranges == [None, None, f"bytes={10 * 2**20}-"], out
    assert hashlib.sha256(Path(out["result"]).read_bytes()).hexdigest() == entry.sha256


def test_peft_config_resolves_through_the_registry(artifact, client_env):
    pytest.importorskip("peft", reason="peft is not installed")
    version = promote(artifact, seed=1)
    ModelAlias.objects.point(artifact, "production", version)

    out = run_client(
        client_env,
        f"""
        from peft import PeftConfig
        config = PeftConfig.from_pretrained({REPO!r}, revision="production")
        result = [config.peft_type.value, config.base_model_name_or_path, config.r]
        """,
    )

    assert out["result"] == ["LORA", "google/gemma-3-1b-it", 4]


def test_a_tunix_adapter_loads_with_peft_through_the_registry(
    artifact, client_env, runs_root, tunix_trained
):
    pytest.importorskip("peft", reason="peft is not installed")
    output = runs_root / "trained"
    shutil.copytree(tunix_trained["output"], output)
    version, _ = ModelVersion.objects.promote(
        artifact, TunixRunFactory(completed=True, output_dir=str(output))
    )
    ModelAlias.objects.point(artifact, "production", version)

    # The adapter names its base by a local path, so only the adapter comes over HF_ENDPOINT.
    out = run_client(
        client_env,
        f"""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
        tokens = torch.arange(1, 17).reshape(1, 16)
        def logits(adapter, **kwargs):
            base = AutoModelForCausalLM.from_pretrained({str(tunix_trained["base"])!r})
            model = PeftModel.from_pretrained(base, adapter, **kwargs).eval()
            with torch.no_grad():
                return model(tokens).logits
        pulled = logits({REPO!r}, revision="production")
        local = logits({str(output / "final_model")!r})
        result = [float((pulled - local).abs().max()), float(local.abs().max())]
        """,
    )

    difference, magnitude = out["result"]
    assert (difference, magnitude > 0) == (0.0, True)
