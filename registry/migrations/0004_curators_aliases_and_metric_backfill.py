"""Give curators the alias permissions, and index the metrics of versions promoted before."""

import math

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    curators, _ = Group.objects.get_or_create(name="curators")
    for codename in ("move_alias", "change_alias_gates", "view_modelalias", "view_registryevent"):
        curators.permissions.add(
            Permission.objects.get(content_type__app_label="registry", codename=codename)
        )
    ModelVersion = apps.get_model("registry", "ModelVersion")
    VersionMetric = apps.get_model("registry", "VersionMetric")
    VersionMetric.objects.bulk_create(
        VersionMetric(version_id=version_id, key=key, value=float(value))
        for version_id, metrics in ModelVersion.objects.values_list("id", "metrics_json")
        for key, value in (metrics or {}).items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and len(key) <= 200
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_aliases_events_metrics")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
