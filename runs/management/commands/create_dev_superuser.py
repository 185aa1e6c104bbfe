from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEV_USERNAME = "admin"
DEV_PASSWORD = "admin"  # noqa: S105 (printed on purpose: development only)


class Command(BaseCommand):
    help = "Create the development superuser admin/admin (DEBUG only); print its credentials."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Refusing to create a development superuser with DEBUG off.")
        User = get_user_model()
        if not User.objects.filter(username=DEV_USERNAME).exists():
            User.objects.create_superuser(DEV_USERNAME, "admin@localhost", DEV_PASSWORD)
        self.stdout.write(f"Development superuser: {DEV_USERNAME} / {DEV_PASSWORD} (DEBUG only)")
