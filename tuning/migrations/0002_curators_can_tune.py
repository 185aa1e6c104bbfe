"""Let curators launch runs and tuning jobs, as well as promote their results."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [
    ("tuning", "add_tuningjob"),
    ("tuning", "change_tuningjob"),
    ("tuning", "view_tuningjob"),
    ("tuning", "view_tuningtrial"),
    ("runs", "add_tunixrun"),
    ("runs", "change_tunixrun"),
]


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    curators, _ = Group.objects.get_or_create(name="curators")
    for app_label, codename in PERMISSIONS:
        curators.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("tuning", "0001_initial"),
        ("registry", "0004_curators_aliases_and_metric_backfill"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
