"""Resources that cannot be had, on a real Ray cluster: the job fails within seconds naming the config
fields and the cluster's totals (before any actor starts); an actor that waits to be placed is reported
with what it waits for."""

import subprocess
import threading

import pytest

from tests.conftest import RLVR, ROOT


def test_an_impossible_demand_fails_fast_naming_fields_and_totals(tmp_path):
    command = [RLVR, "train", "--config", "configs/tiny_text_game.yaml", f"run.output_dir={tmp_path}",
               "rollout.count=40", "run.dashboard=false"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)  # a local cluster of max(4, cores) CPUs
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "error: the job asks for more than the cluster provides" in out.stderr
    assert "rollout.count=40 x rollout.cpus=1" in out.stderr and "but the cluster has" in out.stderr
    assert not (tmp_path / "tiny_text_game" / "tiny_init").exists()  # nothing was built or started


class Probe:
    def ready(self) -> int:
        return 1


def test_an_actor_waiting_for_resources_is_reported(ray_cluster, monkeypatch, capsys):
    import ray

    from core import actors

    monkeypatch.setattr(actors, "PENDING_NOTE_S", 1.0)
    actor = ray.remote(num_cpus=0, resources={"later_slot": 1})(Probe).options(name=actors.actor_name("probe")).remote()
    report = actors._report_waiting  # the autoscaler never comes: give up once the wait was reported (or after 120 s)
    monkeypatch.setattr(actors, "_report_waiting", lambda *args: (report(*args), ray.kill(actor)))
    timer = threading.Timer(120.0, lambda: ray.kill(actor))
    timer.start()
    with pytest.raises(ray.exceptions.RayActorError):
        actors.wait_ready([actor], [actor.ready.remote()], "probe actors", {"later_slot": 1.0})
    timer.cancel()
    err = capsys.readouterr().err
    assert "for resources: 1 of 1 probe actors not placed yet (each needs 1 later_slot; cluster: later_slot 0 free of 0)" in err
