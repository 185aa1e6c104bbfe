"""A promotion that stops at a chosen stage and waits to be killed (run by test_crashes.py).

    python registry/tests/crash_child.py STAGE RUN_ID MODEL SIGNAL_FILE

STAGE is where it waits: `copying` (a blob's bytes are in a temporary file, not yet renamed),
`before_record` (every blob and the manifest are durable, no row yet) or `in_transaction` (the
version row is written and ready inside the transaction, not yet committed).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from registry import storage  # noqa: E402
from registry.managers import ModelVersionManager, RegistryEventManager  # noqa: E402
from registry.models import ModelArtifact, ModelVersion  # noqa: E402
from runs.models import TunixRun  # noqa: E402


def wait_here(signal_file: str):
    Path(signal_file).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def main() -> None:
    stage, run_id, model, signal_file = sys.argv[1:5]
    if stage == "copying":
        real_fsync = os.fsync

        def fsync_then_wait(fd):
            real_fsync(fd)
            if list(Path(os.environ["MODEL_REGISTRY_PATH"], "tmp").glob("*.partial")):
                wait_here(signal_file)

        storage.os.fsync = fsync_then_wait
    elif stage == "before_record":
        ModelVersionManager._record = lambda *args, **kwargs: wait_here(signal_file)
    elif stage == "in_transaction":
        RegistryEventManager.record = lambda *args, **kwargs: wait_here(signal_file)
    artifact = ModelArtifact.objects.get_by_name(model)
    ModelVersion.objects.promote(artifact, TunixRun.objects.get(pk=run_id))
    raise SystemExit("the promotion finished instead of waiting to be killed")


if __name__ == "__main__":
    main()
