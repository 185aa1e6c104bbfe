"""API shapes for runs. Validation rules come from the model; nothing is decided here."""

from rest_framework import serializers

from runs.models import TunixRun


class TunixRunSerializer(serializers.ModelSerializer):
    """A run as the API shows it and as a client registers one trained elsewhere."""

    class Meta:
        model = TunixRun
        fields = [
            "id",
            "name",
            "status",
            "config",
            "metrics",
            "eval_status",
            "output_dir",
            "trainer",
            "base_model_id",
            "dataset_id",
            "git_sha",
            "error",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = [
            "id",
            "trainer",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]


class TunixRunProgressSerializer(serializers.ModelSerializer):
    """The fields a client may change on an existing run, under the life-cycle rules."""

    class Meta:
        model = TunixRun
        fields = ["status", "metrics", "eval_status", "output_dir", "error"]
        extra_kwargs = {field: {"required": False} for field in fields}

    def validate_status(self, value: str) -> str:
        if self.instance is not None and not self.instance.can_transition_to(value):
            raise serializers.ValidationError(self.instance.transition_error(value))
        return value

    def update(self, instance: TunixRun, validated_data: dict) -> TunixRun:
        return instance.record_progress(**validated_data)

    def to_representation(self, instance: TunixRun) -> dict:
        return TunixRunSerializer(instance, context=self.context).data


class RunFileSerializer(serializers.Serializer):
    """One file of a run's output directory."""

    path = serializers.CharField(help_text="Relative path; bytes that are not UTF-8 escaped.")
    size = serializers.IntegerField()
    valid_utf8 = serializers.BooleanField(
        help_text="False when the name is not valid UTF-8: promotion refuses such a file."
    )


class RunLaunchSerializer(serializers.Serializer):
    """Launch a run: a name, an allowed trainer (dotted path) and its config."""

    name = serializers.CharField(max_length=200)
    trainer = serializers.CharField(max_length=200)
    config = serializers.DictField(required=False, default=dict)
