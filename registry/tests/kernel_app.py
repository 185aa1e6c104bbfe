"""A WSGI app that serves one ZIP through `zip_response`, for tests under a real gunicorn.

Reads its scenario from the directory in `KERNEL_TEST_DIR`: `store/` (a BlobStore),
`manifest.json` (entries) and `trusted.json` (identities by digest); logs to `served.log` how
each blob went ("kernel" or "python") and each failure the guard is told of ("failed ...").
No database: the guard is a stand-in that trusts what `trusted.json` says.
"""

import json
import os
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.handlers.wsgi import WSGIRequest  # noqa: E402 (after django.setup)

from registry.downloads import zip_response  # noqa: E402
from registry.storage import BlobIdentity, BlobStore, ManifestEntry  # noqa: E402

SCENARIO = Path(os.environ.get("KERNEL_TEST_DIR", "."))


def log(line: str) -> None:
    with open(SCENARIO / "served.log", "a") as handle:
        handle.write(line + "\n")


class LoggingStore(BlobStore):
    """A store that logs which path served each blob."""

    def send_trusted(self, entry, **kwargs):
        sent = super().send_trusted(entry, **kwargs)
        if sent:
            log(f"kernel {entry.path}")
        return sent

    def read_checked(self, entry, **kwargs):
        log(f"python {entry.path}")
        return super().read_checked(entry, **kwargs)


class ScenarioGuard:
    def __init__(self, trusted):
        self.trusted = trusted

    def verified(self, entry, identity):
        pass

    def failed(self, error):
        log(f"failed {error.path} certain={error.certain}")

    def finished(self):
        log("finished")


def application(environ, start_response):
    manifest = [ManifestEntry(**e) for e in json.loads((SCENARIO / "manifest.json").read_text())]
    trusted = {
        digest: BlobIdentity(**identity)
        for digest, identity in json.loads((SCENARIO / "trusted.json").read_text()).items()
    }
    response = zip_response(
        LoggingStore(SCENARIO / "store"),
        manifest,
        filename="m-v1.zip",
        digest="0" * 64,
        guard=ScenarioGuard(trusted),
        request=WSGIRequest(environ),
    )
    start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
    return response
