import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from runs.lifecycle import RunStatus
from runs.models import TunixRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        """Grant permissions given as "app_label.codename" strings."""
        for dotted in extracted or ():
            app_label, codename = dotted.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def make_output_dir(run_name: str) -> str:
    """Create a run output directory under RUNS_ROOT (per-test) and return its absolute path."""
    directory = settings.RUNS_ROOT / run_name
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory)


class TunixRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TunixRun

    name = factory.Sequence(lambda n: f"run-{n}")
    status = RunStatus.PENDING
    config = factory.LazyFunction(lambda: {"learning_rate": 1e-4, "rank": 8})
    metrics = factory.LazyFunction(dict)
    output_dir = factory.LazyAttribute(lambda run: make_output_dir(run.name))

    class Params:
        completed = factory.Trait(
            status=RunStatus.COMPLETED,
            metrics=factory.LazyFunction(lambda: {"loss": 0.42, "eval_loss": 0.5}),
            eval_status="completed",
        )
        failed = factory.Trait(status=RunStatus.FAILED, error="CUDA out of memory")
        running = factory.Trait(status=RunStatus.RUNNING)
