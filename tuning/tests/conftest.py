import pytest


def start_local_ray():
    """Start Ray in this process as a job does without a cluster, on two CPUs."""
    import ray

    from tuning.execution import ray_init_options

    ray.init(**{**ray_init_options(""), "num_cpus": 2})


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session: starting it takes seconds."""
    import ray

    start_local_ray()
    yield
    ray.shutdown()
