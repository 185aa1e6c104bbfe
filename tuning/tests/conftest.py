import pytest
from django.conf import settings


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session: starting it takes seconds."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(settings.BASE_DIR)}},
    )
    yield
    ray.shutdown()
