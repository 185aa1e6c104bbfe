"""API shapes for tuning jobs and trials."""

from rest_framework import serializers

from tuning.models import TuningJob, TuningTrial


class TuningTrialSerializer(serializers.ModelSerializer):
    """A trial: its parameters, status, metric value and run."""

    run_name = serializers.CharField(source="run.name", default=None, read_only=True)

    class Meta:
        model = TuningTrial
        fields = [
            "id",
            "ray_trial_id",
            "params",
            "status",
            "metric_value",
            "run",
            "run_name",
            "created_at",
        ]


class TuningJobSerializer(serializers.ModelSerializer):
    """A tuning job as the API shows it."""

    trials_total = serializers.IntegerField(read_only=True, default=0)
    trials_done = serializers.IntegerField(read_only=True, default=0)
    best_trial = TuningTrialSerializer(read_only=True)

    class Meta:
        model = TuningJob
        fields = [
            "id",
            "name",
            "trainer",
            "base_config",
            "search_space",
            "metric",
            "mode",
            "num_samples",
            "max_concurrent_trials",
            "ray_address",
            "status",
            "error",
            "trials_total",
            "trials_done",
            "best_trial",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = ["status", "error", "created_at", "started_at", "finished_at"]


class TuningJobCreateSerializer(serializers.Serializer):
    """What a client sends to create a job; the rules are the manager's."""

    name = serializers.CharField(max_length=200)
    trainer = serializers.CharField(max_length=200)
    base_config = serializers.DictField(required=False, default=dict)
    search_space = serializers.DictField()
    metric = serializers.CharField(required=False, default="eval_loss", max_length=200)
    mode = serializers.CharField(required=False, default="min")
    num_samples = serializers.IntegerField(required=False, default=4)
    max_concurrent_trials = serializers.IntegerField(required=False, default=2)
    ray_address = serializers.CharField(required=False, default="", allow_blank=True)
    start = serializers.BooleanField(required=False, default=True)


class PromoteBestSerializer(serializers.Serializer):
    """Promote the best trial's run into a model."""

    artifact_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    version = serializers.CharField(required=False, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)
