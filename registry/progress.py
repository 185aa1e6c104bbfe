"""A terminal progress bar for long registry commands, fed by the blob store's progress events."""

import sys
import threading

from tqdm import tqdm

from registry.storage import Progress

PHASE_LABELS = {
    "hashing": "Hashing",
    "storing": "Hashing and storing",
    "uploading": "Uploading",
    "verifying": "Verifying",
}


class TerminalProgress(Progress):
    """A bytes-and-files bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.bar: tqdm | None = None
        self.files = 0
        self._lock = threading.Lock()

    def begin(self, phase: str, *, total_bytes: int, total_files: int) -> None:
        with self._lock:
            self._close()
            self.files = 0
            self.total_files = total_files
            self.bar = tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=PHASE_LABELS.get(phase, phase),
                disable=not self.enabled,
                file=self.stream,
            )

    def advance(self, nbytes: int, finished_path: str | None = None) -> None:
        with self._lock:
            if self.bar is None:
                return
            self.bar.update(nbytes)
            if finished_path:
                self.files += 1
                self.bar.set_postfix_str(f"{self.files}/{self.total_files} files")

    def close(self) -> None:
        """Finish the bar, leaving the terminal on a fresh line."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
