"""Refuse unknown job statuses in the database, as the runs table already does.

Both tables now share `runs.lifecycle.LifeCycle`, whose constraint this is. Reversible: going back
drops the constraint and nothing else.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tuning", "0002_curators_can_tune"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="tuningjob",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["pending", "running", "completed", "failed", "cancelled"])
                ),
                name="tuning_tuningjob_status_valid",
            ),
        ),
    ]
