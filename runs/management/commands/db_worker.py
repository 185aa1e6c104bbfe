from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from runs.models import TunixRun


class Command(DatabaseWorkerCommand):
    help = (
        "Run the background worker (django-tasks-db's db_worker), first marking failed any run "
        "whose worker on this host died mid-run."
    )

    def handle(self, *args, **options):
        for run in TunixRun.objects.fail_vanished():
            self.stdout.write(f"Marked failed: run {run.pk} ({run.name}); its worker vanished.")
        return super().handle(*args, **options)
