"""Give models a Hub repo id and versions a Hub commit id, filling both in for existing rows."""

import hashlib
import re

import django.db.models.functions.text
from django.db import migrations, models

import registry.models


def repo_id_from_name(name: str) -> str:
    # A copy of registry.labels.repo_id_from_name as it was when this migration was written.
    slug = re.sub(r"[^a-z0-9._]+", "-", name.lower())
    slug = re.sub(r"\.{2,}", ".", slug).strip("-.")[:96].strip("-.")
    return slug or "model"


def version_commit(artifact_id: int, label: str, digest: str) -> str:
    # A copy of registry.managers.version_commit: ids already handed out must never change.
    return hashlib.sha1(  # noqa: S324
        f"tunix-rt version\0{artifact_id}\0{label}\0{digest}".encode()
    ).hexdigest()


def backfill(apps, schema_editor):
    # Historical models: ModelVersion's immutability rules live in its save() and queryset, which
    # migrations do not run; the commit id is new data about the version, not a change to it.
    ModelArtifact = apps.get_model("registry", "ModelArtifact")
    ModelVersion = apps.get_model("registry", "ModelVersion")
    taken = set()
    for artifact in ModelArtifact.objects.order_by("id"):
        base = repo_id_from_name(artifact.name)
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base[: 96 - len(str(number)) - 1]}-{number}"
        taken.add(candidate)
        ModelArtifact.objects.filter(pk=artifact.pk).update(repo_id=candidate)
    for version in ModelVersion.objects.order_by("id").only(
        "id", "artifact_id", "version", "sha256"
    ):
        ModelVersion.objects.filter(pk=version.pk).update(
            commit=version_commit(version.artifact_id, version.version, version.sha256)
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_verification_failures")]

    operations = [
        migrations.AddField(
            model_name="modelartifact",
            name="repo_id",
            field=models.CharField(
                blank=True,
                help_text=(
                    "The id huggingface_hub clients use (HF_ENDPOINT): `name` or `namespace/name`. "
                    "Changing it breaks clients that use the old one."
                ),
                max_length=193,
                null=True,
                validators=[registry.models.check_repo_id],
                verbose_name="repo id",
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="commit",
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="modelversion",
            name="commit",
            field=models.CharField(editable=False, max_length=40, unique=True),
        ),
        migrations.AddConstraint(
            model_name="modelartifact",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("repo_id"),
                name="registry_modelartifact_repo_id_ci_unique",
                violation_error_message="A model with this repo id already exists (ignoring case).",
            ),
        ),
    ]
