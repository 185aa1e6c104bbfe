import factory

from tuning.models import TuningJob

SPACE = {
    "learning_rate": {"type": "grid", "values": [0.001, 0.05]},
    "rank": {"type": "grid", "values": [2, 8]},
}


class TuningJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TuningJob

    name = factory.Sequence(lambda n: f"search-{n}")
    trainer = "runs.trainers.lora_demo"
    base_config = factory.LazyFunction(lambda: {"steps": 150, "alpha": 16})
    search_space = factory.LazyFunction(lambda: dict(SPACE))
    metric = "eval_loss"
    mode = "min"
    num_samples = 1
    max_concurrent_trials = 2
