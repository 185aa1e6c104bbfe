"""The registry's statuses and kinds: the values stored in its status and kind columns."""

from django.db import models


class VersionStatus(models.TextChoices):
    # A row is `created` only inside the promotion transaction that makes it `ready`.
    CREATED = "created", "Created"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    # Retired by the model's retention policy: the row and its provenance stay, the bytes go.
    ARCHIVED = "archived", "Archived"


# Versions that were ready once: immutable and never deleted, archived or not.
PROMOTED_STATUSES = (VersionStatus.READY, VersionStatus.ARCHIVED)


class AliasChangeKind(models.TextChoices):
    SET = "set", "Set"
    MOVE = "move", "Move"
    REMOVE = "remove", "Remove"
    GATE_CHANGE = "gate_change", "Gate change"


class EventKind(models.TextChoices):
    PROMOTION = "promotion", "Promotion"
    TAG_CHANGE = "tag_change", "Tag change"
    ALIAS_MOVE = "alias_move", "Alias move"
    GATE_CHANGE = "gate_change", "Gate change"
    VERIFICATION = "verification", "Verification"
    ARCHIVE = "archive", "Archive"


class LayoutKind(models.TextChoices):
    """What a promoted directory held (`ModelVersion.layout`); see registry/layouts.py."""

    LORA_ADAPTER = "lora_adapter", "LoRA adapter"
    FULL_MODEL = "full_model", "Full model"
    ORBAX_CHECKPOINT = "orbax_checkpoint", "Orbax checkpoint"
