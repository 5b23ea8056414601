"""The fault-tolerant dispatcher on real Ray actors: a worker that dies mid-unit and one that hangs are
replaced and their units done elsewhere; a unit whose workers keep dying is given up after the bounded
attempts with an error naming the role, the worker and the work; a hung unit is split to find its item."""

import os
import time
from pathlib import Path

import pytest

from core.actors import ActorGroup, Shape
from core.dispatch import Dispatcher, DispatchError


class Worker:
    """Doubles numbers. Item -1 kills the process and -2 freezes it, the first time each is seen
    (a marker file in `flags` is taken); -3 kills it and -4 freezes it every time."""

    def __init__(self, flags: str):
        self.flags = Path(flags)

    def ready(self) -> int:
        return os.getpid()

    def work(self, items: list[int]) -> list[int]:
        for x in items:
            if x in (-1, -2) and (self.flags / str(x)).exists():
                (self.flags / str(x)).unlink()
                if x == -1:
                    os._exit(1)
                time.sleep(3600)
            if x == -3:
                os._exit(1)
            if x == -4:
                time.sleep(3600)
        return [2 * x for x in items]


def pool(ray_cluster, flags: Path, **options) -> Dispatcher:
    group = ActorGroup(Worker, "unit-worker", Shape(0.1), start_timeout_s=120)
    dispatcher = Dispatcher(group, launch=lambda: group.launch(1, lambda i: (str(flags),))[0], **options)
    dispatcher.add(group.start(2, lambda i: (str(flags),)))
    return dispatcher


def run(dispatcher: Dispatcher, items: list[int], unit_size: int) -> list:
    return dispatcher.collect(dispatcher.submit("double", len(items), unit_size, lambda w, a, b: w.work.remote(items[a:b])))


def test_a_dead_and_a_hung_worker_are_replaced_and_their_units_done_elsewhere(ray_cluster, tmp_path):
    (tmp_path / "-1").touch()
    (tmp_path / "-2").touch()
    dispatcher = pool(ray_cluster, tmp_path, timeout_s=5.0, max_attempts=3)
    try:
        items = [1, 2, -1, 3, 4, 5, -2, 6]
        start = time.monotonic()
        assert run(dispatcher, items, unit_size=2) == [2 * x for x in items]
        assert time.monotonic() - start >= 5.0  # the hung unit was cut off at its deadline, not before
        assert dispatcher.restarts == 2 and dispatcher.retried == 4 and dispatcher.given_up == 0
        dispatcher.settle()
        assert len(dispatcher.workers) == 2 and not (tmp_path / "-1").exists() and not (tmp_path / "-2").exists()
        assert run(dispatcher, [7, 8, 9], unit_size=1) == [14, 16, 18]  # the replacements serve
    finally:
        dispatcher.shutdown()


def test_a_unit_whose_workers_keep_dying_is_given_up_after_the_bounded_attempts(ray_cluster, tmp_path):
    dispatcher = pool(ray_cluster, tmp_path, timeout_s=30.0, max_attempts=3)
    try:
        with pytest.raises(DispatchError, match=r"unit-worker: double of items 2\.\.3 \(attempt 3\) failed on 3 workers \(the last, unit-worker-\d+ \(pid \d+\), died\)"):
            run(dispatcher, [1, 2, -3, 4], unit_size=2)
        assert dispatcher.restarts == 3  # one replacement per attempt, no more
    finally:
        dispatcher.shutdown()


def test_a_hung_unit_is_split_to_find_its_item_which_is_given_up_alone(ray_cluster, tmp_path):
    given_up = []
    dispatcher = pool(ray_cluster, tmp_path, timeout_s=5.0, max_attempts=3, split_hung=True,
                      give_up=lambda unit, hung: given_up.append((unit.start, hung)) or [None] * (unit.end - unit.start))
    try:
        # the unit of 4 hangs: its items are done again one per call, and the one that hangs alone is given up at once
        assert run(dispatcher, [1, 2, -4, 3], unit_size=4) == [2, 4, None, 6]
        assert given_up == [(2, True)] and dispatcher.retried == 4 and dispatcher.given_up == 1 and dispatcher.restarts == 2
    finally:
        dispatcher.shutdown()
