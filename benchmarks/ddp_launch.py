"""Launching a data-parallel trial: new processes (run_data_parallel) against Ray actors.

Each side starts a 2-rank gloo group on 127.0.0.1, runs one all_reduce and shuts the group down,
as one data-parallel trial does before and after its training:

(a) ``run_data_parallel``: 2 new interpreters (``python -c``), each importing torch, joining the
    group; timed from the call until both ranks have exited.
(b) Ray: a placement group of 2 bundles of 1 CPU (STRICT_PACK), 2 actors in it, each joining the
    group (torch imported in the actor); timed from creating the placement group until the
    actors are killed and the group removed (``ray.kill`` returns before their processes end:
    that part is not counted). The local Ray is started first and warm (its idle worker
    processes running); its start-up is reported once, apart.

The sides alternate, after one warm-up run of each; median and min of the repeats are printed,
and the ratio of the medians. ``run_data_parallel`` uses (a): it is not slower, needs no Ray
(the inline executor), and in a Ray trial its ranks use the resources the trial's worker holds,
where actors would ask Ray for more (on a full cluster, never granted).

Usage: python benchmarks/ddp_launch.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hpo.plugins import Trial  # noqa: E402
from hpo.trainers._distributed import run_data_parallel  # noqa: E402


class NoReporter:
    def report(self, number, value, step):
        return False

    def should_prune(self, number):
        return False

    def log_metrics(self, number, metrics, step):
        pass

    def log_artifact(self, number, path, artifact_path):
        pass

    def set_user_attr(self, number, key, value):
        pass


def one_all_reduce(trial) -> float:
    import torch
    import torch.distributed as dist

    value = torch.ones(1)
    dist.all_reduce(value)
    return float(value.item())


def spawned() -> float:
    start = time.perf_counter()
    assert run_data_parallel(one_all_reduce, Trial(0, {}, NoReporter()), 2) == 2.0
    return time.perf_counter() - start


class Rank:
    """One rank as a Ray actor."""

    def run(self, rank: int, world_size: int, port: int) -> float:
        import torch
        import torch.distributed as dist

        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
        value = torch.ones(1)
        dist.all_reduce(value)
        dist.destroy_process_group()
        return float(value.item())


def ray_actors(actor_class) -> float:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    start = time.perf_counter()
    group = placement_group([{"CPU": 1}] * 2, strategy="STRICT_PACK")
    ray.get(group.ready())
    actors = [
        actor_class.options(
            num_cpus=1,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank),
        ).remote()
        for rank in range(2)
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert ray.get([actor.run.remote(rank, 2, port) for rank, actor in enumerate(actors)]) == [2.0, 2.0]
    for actor in actors:
        ray.kill(actor)
    remove_placement_group(group)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import ray

    from hpo._ray import worker_env

    start = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        runtime_env=worker_env(),
        _node_ip_address="127.0.0.1",
    )
    print(f"local Ray start-up (once, not per trial): {time.perf_counter() - start:.2f} s")
    actor_class = ray.remote(Rank)
    spawned(), ray_actors(actor_class)  # warm-up: first imports, Ray's worker pool
    times: dict[str, list[float]] = {"spawn": [], "ray": []}
    for _ in range(args.repeats):
        times["spawn"].append(spawned())
        times["ray"].append(ray_actors(actor_class))
    ray.shutdown()
    print(f"2-rank gloo group: start, one all_reduce, shut down ({args.repeats} repeats, s)")
    names = {
        "spawn": "(a) run_data_parallel (2 new processes)",
        "ray": "(b) Ray placement group + 2 actors",
    }
    for key, name in names.items():
        print(f"  {name:42} median {statistics.median(times[key]):6.2f}  min {min(times[key]):6.2f}")
    ratio = statistics.median(times["ray"]) / statistics.median(times["spawn"])
    print(f"  Ray / run_data_parallel: {ratio:.2f}x (medians)")


if __name__ == "__main__":
    main()
