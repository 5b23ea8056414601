"""Network exposure of a local run: every listening socket of every process the run starts, sampled while
it trains (MLE, then RL with 2 learner ranks and the collective weight sync).

What we control binds 127.0.0.1: the learner ranks' store and gloo connections, the weight-broadcast
group, vLLM's own gloo group. What ignores it is Ray's, and listed here precisely: the GCS, the raylet
and Ray's agents (dashboard agent, runtime-env agent) listen on all interfaces or the host's interface
address whatever `--node-ip-address` says, the driver's Ray client side opens wildcard ports, and every
Ray worker process has one wildcard gRPC server (Ray's core worker), the same before and after it
becomes one of our actors."""

import os
import subprocess
import time

import psutil

from tests.conftest import RLVR, ROOT

LOOPBACK = "127.0.0.1"
WILDCARD = ("0.0.0.0", "::")
OURS = ("ray::LearnerRank", "ray::RolloutWorker", "ray::RewardWorker")


def listening(root: int) -> dict[int, tuple[str, set]]:
    """{pid: (process title, {(ip, port)})} of `root` and its descendants."""
    out = {}
    try:
        procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.Error:
        return out
    for p in procs:
        try:
            sockets = {(c.laddr.ip, c.laddr.port) for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
            out[p.pid] = (" ".join(p.cmdline()).split(" ")[0], sockets)  # Ray pads its process titles with spaces
        except psutil.Error:
            pass
    return out


def test_what_we_start_listens_on_loopback_only(tmp_path):
    command = [
        RLVR, "train", "--config", str(ROOT / "configs" / "tiny_text_game.yaml"),
        f"run.output_dir={tmp_path}", "run.name=net", "world.text_game.builtin_train_rows=64", "world.text_game.builtin_test_rows=8",
        "mle.epochs=0.5", "mle.batch_size=16", "rl.steps=3", "rl.prompts_per_step=4", "rollout.group_size=2",
        "rl.mini_batch_prompts=2", "rollout.sampling.max_new_tokens=16", "run.tiny.vocab_size=512", "run.tiny.hidden_size=64",
        "run.tiny.num_layers=2", "run.tiny.num_heads=2", "rollout.sync_transport=collective", "run.stages=[mle,rl]",
        "learner.count=2", "learner.cpus=1",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local run: it starts its own Ray on 127.0.0.1
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[int, tuple[str, set]] = {}
    deadline = time.monotonic() + 900
    try:
        while driver.poll() is None and time.monotonic() < deadline:
            for pid, (title, sockets) in listening(driver.pid).items():
                old_title, old = seen.get(pid, (title, set()))
                seen[pid] = (title if title.startswith(OURS) else old_title, old | sockets)
            time.sleep(0.2)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.wait(timeout=60) == 0, driver.stderr.read()[-3000:]

    ours = {pid: v for pid, v in seen.items() if v[0].startswith(OURS)}
    assert {t.split(".")[0] for t, _ in ours.values()} >= {"ray::LearnerRank", "ray::RolloutWorker", "ray::RewardWorker"}, seen
    for pid, (title, sockets) in ours.items():
        loopback = {s for s in sockets if s[0] == LOOPBACK}
        wildcard = {s for s in sockets if s[0] in WILDCARD}
        assert sockets == loopback | wildcard, f"{title} (pid {pid}) listens on an interface address: {sockets - loopback - wildcard}"
        assert len(wildcard) <= 1, f"{title} (pid {pid}): more wildcard listeners than Ray's core-worker server: {wildcard}"
    learner_sockets = set().union(*(sockets for title, sockets in ours.values() if title.startswith("ray::LearnerRank")))
    assert sum(ip == LOOPBACK for ip, _ in learner_sockets) >= 2  # the ranks' store and gloo connections were seen, on loopback
    print("\n".join(f"{title[-40:]:40} {sorted(sockets)}" for title, sockets in seen.values() if sockets - {s for s in sockets if s[0] == LOOPBACK}))
