import pytest

from tuning.exceptions import RAY_CLIENT_REFUSED, TuningError
from tuning.models import TuningJob
from tuning.tests.factories import SPACE

pytestmark = pytest.mark.django_db


def create_job(**overrides):
    fields = {"name": "search", "trainer": "runs.trainers.lora_demo", "search_space": SPACE}
    return TuningJob.objects.create_job(**{**fields, **overrides})


def test_a_job_naming_no_cluster_joins_the_one_ray_address_names(settings):
    settings.RAY_ADDRESS = "10.0.0.5:6379"

    assert create_job().ray_address == "10.0.0.5:6379"


def test_a_job_naming_its_cluster_keeps_it(settings):
    settings.RAY_ADDRESS = "10.0.0.5:6379"

    assert create_job(ray_address="10.0.0.9:6379").ray_address == "10.0.0.9:6379"


def test_without_ray_address_a_job_names_no_cluster(settings):
    settings.RAY_ADDRESS = ""

    assert create_job().ray_address == ""


def test_a_ray_client_address_is_refused():
    with pytest.raises(TuningError) as excinfo:
        create_job(ray_address="ray://10.0.0.5:10001")

    assert excinfo.value.code == RAY_CLIENT_REFUSED
    assert "callbacks that record every trial in the database" in excinfo.value.message
    assert set(excinfo.value.errors) == {"ray_address"}
    assert not TuningJob.objects.exists()


def test_a_ray_client_address_in_ray_address_is_refused_too(settings):
    settings.RAY_ADDRESS = "RAY://head:10001"

    with pytest.raises(TuningError) as excinfo:
        create_job()

    assert excinfo.value.code == RAY_CLIENT_REFUSED
    assert "RAY://head:10001" in excinfo.value.message
