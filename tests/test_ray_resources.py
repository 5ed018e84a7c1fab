"""The Ray executor on a larger simulated local Ray (16 CPUs, 1 GPU, 2 of a custom resource):
every resource a trial asks for bounds how many trials run at once."""

from __future__ import annotations

import time

import pytest

import hpo
from hpo import ConfigError
from tests.test_ray import in_flight_counter, peak_overlap

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Ray simulates the GPU and the custom resource: they are numbers it schedules by.
    from hpo._ray import worker_env

    ray.init(
        address="local",  # (never a cluster another test started)
        num_cpus=16,
        num_gpus=1,
        resources={"accel": 2},
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env=worker_env(),
    )
    yield
    ray.shutdown()


def timed(params, trial):
    """Sleeps a little, recording when it ran and what Ray gave it."""
    import time

    import ray

    trial.set_user_attr("start", time.time())
    trial.set_user_attr("resources", ray.get_runtime_context().get_assigned_resources())
    time.sleep(0.3)
    trial.set_user_attr("end", time.time())
    return params["x"]


def concurrency(**options) -> int:
    from hpo._ray import RayExecutor

    executor = RayExecutor(**options)
    executor.open()
    return executor.concurrency


def test_every_requested_resource_bounds_concurrency():
    assert concurrency(gpus_per_trial=0.25) == 4  # not 16, as the CPUs alone allow
    assert concurrency(gpus_per_trial=0.25, workers=2) == 2
    assert concurrency(gpus_per_trial=0.1) == 10  # counted in Ray's units: 1 // 0.1 is 9 in floats
    assert concurrency(cpus_per_trial=3) == 5
    assert concurrency(resources_per_trial={"accel": 1}) == 2
    assert concurrency(resources_per_trial={"accel": 0.5}, gpus_per_trial=0.5) == 2
    assert concurrency(cpus_per_trial=0) == 16  # nothing asked: the cluster's CPUs


def test_fractional_gpus_bound_the_trials_in_flight():
    seen, count = in_flight_counter()
    study = hpo.tune(
        timed,
        {"x": {"float": [0, 1]}},
        n_trials=12,
        seed=0,
        pruner="none",
        callbacks=[count],
        executor={"kind": "ray", "gpus_per_trial": 0.25},
        tracking=None,
    )
    assert study.counts()["complete"] == 12
    assert {t.user_attrs["resources"]["GPU"] for t in study.trials} == {0.25}
    assert max(seen) <= 4  # the driver keeps no more in flight than can run
    assert 2 <= peak_overlap(study.trials) <= 4


def test_custom_resources_reach_ray_and_bound_concurrency():
    seen, count = in_flight_counter()
    study = hpo.tune(
        timed,
        {"x": {"float": [0, 1]}},
        n_trials=6,
        seed=0,
        pruner="none",
        callbacks=[count],
        executor={"kind": "ray", "cpus_per_trial": 0, "resources_per_trial": {"accel": 1}},
        tracking=None,
    )
    assert study.counts()["complete"] == 6
    assert {t.user_attrs["resources"].get("accel") for t in study.trials} == {1.0}
    assert max(seen) <= 2 and peak_overlap(study.trials) <= 2


RESOURCES = "executor.resources_per_trial: "


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resources_per_trial": {"tpu_v9": 1}}, RESOURCES + "a trial asks for 1 of 'tpu_v9', the Ray cluster has 0"),
        ({"resources_per_trial": {"accel": 3}}, RESOURCES + "a trial asks for 3 of 'accel', the Ray cluster has 2"),
        ({"gpus_per_trial": 2}, "executor.gpus_per_trial: a trial asks for 2 GPUs, the Ray cluster has 1"),
        ({"resources_per_trial": {"accel": -1}}, RESOURCES + "expected a non-negative number for 'accel', got -1"),
        ({"resources_per_trial": {"GPU": 1}}, RESOURCES + "set GPU with gpus_per_trial, got 'GPU'"),
        (
            {"resources_per_trial": ["accel"]},
            RESOURCES + "expected a mapping of resource names to amounts, got ['accel']",
        ),
        (
            {"gpus_per_trial": 0.00001},
            "executor.gpus_per_trial: expected 0 or at least 0.0001 (Ray's finest fraction), got 1e-05",
        ),
    ],
)
def test_resources_the_cluster_lacks_or_bad_amounts_are_one_line_errors(options, message):
    calls = []
    start = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        hpo.tune(
            lambda p: calls.append(p) or 0.0,
            {"x": {"float": [0, 1]}},
            n_trials=2,
            tracking=None,
            executor={"kind": "ray", **options},
        )
    assert str(caught.value) == message and calls == []
    assert time.monotonic() - start < 30
    assert ray.is_initialized()  # the executor leaves a Ray it did not start running
