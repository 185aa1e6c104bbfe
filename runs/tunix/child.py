"""The Tunix trainer's child process: `python -m runs.tunix.child` (imports JAX; no Django).

It reads `{"config": ..., "output_dir": ...}` as JSON on stdin and writes one JSON event a line
to the file descriptor named by TUNIX_RT_EVENTS_FD: `log`, `metric`, then `final` with the
metrics, or `error` with a message for a refusal the user can act on. Anything else (a crash in
XLA, say) ends the process with its traceback on stderr, which the parent keeps.
"""

import json
import os
import signal
import sys
from pathlib import Path

EVENTS_FD_VARIABLE = "TUNIX_RT_EVENTS_FD"
PARENT_PID_VARIABLE = "TUNIX_RT_PARENT_PID"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process if the worker that started it dies (kill -9 included)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the worker's stop() is the only guard
    if str(os.getppid()) != os.environ.get(PARENT_PID_VARIABLE):
        os._exit(1)  # the parent died before the request above took effect


def main() -> int:
    """Train once as the parent asked; return the exit status."""
    die_with_parent()
    events = os.fdopen(int(os.environ[EVENTS_FD_VARIABLE]), "w", buffering=1, encoding="utf-8")

    def emit(event: dict) -> None:
        events.write(json.dumps(event) + "\n")

    request = json.load(sys.stdin)
    from runs.tunix.data import DatasetError
    from runs.tunix.families import BaseModelError
    from runs.tunix.training import train_lora_sft

    try:
        final = train_lora_sft(request["config"], Path(request["output_dir"]), emit)
    except (DatasetError, BaseModelError) as exc:
        emit({"event": "error", "message": str(exc)})
        return 2
    emit({"event": "final", "metrics": final})
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
