"""The registry's QuerySets and Managers, one module per job.

    rules.py       promotion rules: which runs may be promoted, commit ids, searchable metrics
    artifacts.py   artifact queries, creation, and the artifact lock every registry write takes
    versions.py    version queries (ready, revisions, metric search) and bulk immutability
    promotion.py   ModelVersion.objects: promote() (the one coordinator), retention, GC
    aliases.py     ModelAlias.objects: resolve, point, remove, set_gates
    audit.py       the audit trail and the alias history (append-only)
    blobs.py       BlobCheck.objects: what hash checks found

They reach other models through relations, not registry.models (which imports them); the one
exception is BlobCheck, which no model relates to (see `collect_garbage`).
"""

from registry.managers.aliases import ModelAliasManager
from registry.managers.artifacts import ModelArtifactManager, ModelArtifactQuerySet
from registry.managers.audit import (
    AliasChangeManager,
    AliasChangeQuerySet,
    AppendOnlyQuerySet,
    RegistryEventManager,
    RegistryEventQuerySet,
    actor_fields,
    actor_name,
)
from registry.managers.blobs import RACY_SECONDS, BlobCheckManager
from registry.managers.promotion import ModelVersionManager
from registry.managers.rules import (
    check_promotable,
    requirements_fingerprint,
    searchable_metrics,
    version_commit,
)
from registry.managers.versions import COMMIT_ID, ModelVersionQuerySet

__all__ = [
    "COMMIT_ID",
    "RACY_SECONDS",
    "AliasChangeManager",
    "AliasChangeQuerySet",
    "AppendOnlyQuerySet",
    "BlobCheckManager",
    "ModelAliasManager",
    "ModelArtifactManager",
    "ModelArtifactQuerySet",
    "ModelVersionManager",
    "ModelVersionQuerySet",
    "RegistryEventManager",
    "RegistryEventQuerySet",
    "actor_fields",
    "actor_name",
    "check_promotable",
    "requirements_fingerprint",
    "searchable_metrics",
    "version_commit",
]
