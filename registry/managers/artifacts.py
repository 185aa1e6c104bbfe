"""Artifact queries: listing, search, lookup by name or repo id, creation, and the row lock."""

from django.db import IntegrityError, models, transaction
from django.db.models.functions import Coalesce

from registry.exceptions import NAME_TAKEN, REPO_ID_TAKEN, RegistryError
from registry.labels import REPO_ID_PATTERN, repo_id_from_name

ERROR_NAME_TAKEN = "A model named {name!r} already exists (ignoring case)."
ERROR_REPO_ID_TAKEN = "A model with the repo id {repo_id!r} already exists."


class ModelArtifactQuerySet(models.QuerySet):
    """Reads over model artifacts."""

    def with_version_counts(self):
        """Annotate each artifact with `version_count`, its number of ready versions.

        A correlated subquery, not a JOIN and GROUP BY: a page's `count()` then drops it (and the
        latest-version ones), where an aggregate made it compute them for every artifact.
        """
        versions = self.model.versions.field.model.objects
        ready = versions.ready().filter(artifact=models.OuterRef("pk"))
        counted = ready.order_by().values("artifact").annotate(n=models.Count("pk")).values("n")
        return self.annotate(version_count=Coalesce(models.Subquery(counted), 0))

    def with_latest_version(self):
        """Annotate `latest_version_*` (id, label, sha256, size, created) from the newest ready one.

        Correlated subqueries keep a page of artifacts to one SQL query however long it is.
        """
        versions = self.model.versions.field.model.objects
        newest = versions.ready().filter(artifact=models.OuterRef("pk")).newest_first()
        return self.annotate(
            **{
                f"latest_version_{field}": models.Subquery(newest.values(field)[:1])
                for field in ("id", "version", "sha256", "size_bytes", "created_at")
            }
        )

    def search(self, text: str | None):
        """Return artifacts whose name or description contains `text` (any case)."""
        if not text:
            return self
        return self.filter(models.Q(name__icontains=text) | models.Q(description__icontains=text))

    def listing(self, *, text: str | None = None, task_type: str | None = None):
        """Return the models a list shows: matching `text` and `task_type`, counted, by name."""
        artifacts = self.search(text)
        if task_type:
            artifacts = artifacts.filter(task_type=task_type)
        return artifacts.with_version_counts().with_latest_version().order_by("name", "id")

    def under_retention(self):
        """Return the models with a keep-last-N retention policy."""
        return self.filter(keep_last_versions__isnull=False)

    def named(self, name: str):
        """Return the artifacts named `name` (any case): one at most."""
        return self.filter(name__iexact=name)


class ModelArtifactManager(models.Manager.from_queryset(ModelArtifactQuerySet)):
    """Find artifacts by name, ignoring case as the uniqueness rule does."""

    def create_artifact(self, **fields):
        """Validate and create an artifact; a name taken meanwhile is a `name_taken` refusal.

        Without a repo id, one is made from the name (`gemma3-1b-tunix-sft`, then `-2`, ...).
        """
        artifact = self.model(**fields)
        if not artifact.repo_id:
            artifact.repo_id = self.free_repo_id(artifact.name)
        artifact.full_clean()
        try:
            with transaction.atomic():
                artifact.save()
        except IntegrityError:
            if self.filter(repo_id__iexact=artifact.repo_id).exists():
                raise RegistryError(
                    ERROR_REPO_ID_TAKEN.format(repo_id=artifact.repo_id), code=REPO_ID_TAKEN
                ) from None
            raise RegistryError(
                ERROR_NAME_TAKEN.format(name=artifact.name), code=NAME_TAKEN
            ) from None
        return artifact

    def get_or_create_artifact(self, *, name: str, **fields):
        """Return the artifact named `name` (any case); create it with `fields` if there is none."""
        artifact = self.named(name).first()
        if artifact is None:
            artifact = self.create_artifact(name=name, **fields)
        return artifact

    def free_repo_id(self, name: str) -> str:
        """Return a repo id made from `name` that no model holds yet (ignoring case)."""
        base = repo_id_from_name(name)
        taken = {
            repo_id.lower()
            for repo_id in self.filter(repo_id__istartswith=base).values_list("repo_id", flat=True)
        }
        candidate, number = base, 1
        while candidate.lower() in taken:
            number += 1
            suffix = f"-{number}"
            candidate = base[: 96 - len(suffix)] + suffix
        return candidate

    def get_by_name(self, name: str):
        """Return the artifact named `name` (any case); raise DoesNotExist."""
        return self.named(name).get()

    def get_by_repo_id(self, repo_id: str):
        """Return the artifact with Hub repo id `repo_id` (any case); raise DoesNotExist."""
        if not REPO_ID_PATTERN.fullmatch(repo_id):
            # Not a repo id at all (NUL bytes, slashes, 10 kB): no query, which might choke on it.
            raise self.model.DoesNotExist(f"{repo_id[:200]!r} is not a repo id.")
        return self.get(repo_id__iexact=repo_id)

    def lock(self, artifact):
        """Return `artifact` again, its row locked until the transaction ends.

        The one lock of the registry's writes: promotions, retention and alias changes of one
        model take it, so they run one after another.
        """
        return self.select_for_update().get(pk=artifact.pk)
