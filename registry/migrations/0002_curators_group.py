"""Create the `curators` group, holding the registry's permissions to create, promote and tag."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CURATOR_PERMISSIONS = [
    ("registry", "add_modelartifact"),
    ("registry", "change_modelartifact"),
    ("registry", "view_modelartifact"),
    ("registry", "add_modelversion"),
    ("registry", "change_modelversion"),
    ("registry", "view_modelversion"),
    ("registry", "view_modelfile"),
    ("runs", "view_tunixrun"),
]


def create_curators(apps, schema_editor):
    # Permissions are normally created after all migrations; this group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    curators, _ = Group.objects.get_or_create(name="curators")
    for app_label, codename in CURATOR_PERMISSIONS:
        curators.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_curators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="curators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("runs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_curators, remove_curators)]
