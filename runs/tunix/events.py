"""Metrics from the TensorBoard event files a Tunix run writes, read with TensorBoard's own reader.

Tunix logs every metric as `<prefix>/<mode>/<name>` through metrax's TensorBoard backend
(`train/loss`, `eval/loss`, `train/perplexity`, ...). `import_run` turns them into a run's final
metrics and its loss curve, so a run trained elsewhere shows the same page as one launched here.
"""

import os
from pathlib import Path

EVENT_FILE_MARK = "events.out.tfevents."
TAGS = {
    "train/loss": "loss",
    "train/perplexity": "perplexity",
    "train/learning_rate": "learning_rate",
    "eval/loss": "eval_loss",
    "eval/perplexity": "eval_perplexity",
}
# The curve is stored on the run: a long run's is thinned to this many points.
MAX_CURVE_POINTS = 2000


def event_directories(output_dir: Path) -> list[Path]:
    """Return the directories under `output_dir` holding TensorBoard event files."""
    found = []
    for directory, subdirectories, filenames in os.walk(output_dir, followlinks=False):
        # Orbax steps hold thousands of files and never events: do not walk into them.
        subdirectories[:] = [d for d in subdirectories if not d.isdigit()]
        if any(EVENT_FILE_MARK in name for name in filenames):
            found.append(Path(directory))
    return sorted(found)


def metric_name(tag: str) -> str | None:
    """Return our metric name for a Tunix scalar tag (any metrics prefix), or None."""
    tag = tag.strip("/")
    return next(
        (name for suffix, name in TAGS.items() if tag == suffix or tag.endswith(f"/{suffix}")), None
    )


def read_tensorboard_metrics(output_dir: Path) -> dict | None:
    """Return the final metrics and per-step loss in `output_dir`'s event files, or None."""
    directories = event_directories(output_dir)
    if not directories:
        return None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: dict[str, dict[int, float]] = {}
    for directory in directories:
        events = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags().get("scalars", []):
            name = metric_name(tag)
            if name:
                series.setdefault(name, {}).update(
                    (event.step, float(event.value)) for event in events.Scalars(tag)
                )
    if not series:
        return None
    metrics = {name: values[max(values)] for name, values in series.items()}
    losses = series.get("loss", {})
    if losses:
        curve = [losses[step] for step in sorted(losses)]
        stride = -(-len(curve) // MAX_CURVE_POINTS)
        metrics["steps"] = max(losses)
        metrics["loss_per_step"] = curve[::stride]
    return metrics
