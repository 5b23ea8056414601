"""`rlvr`: one command routing to every entry point, `--help` on each, and unknown commands named."""

import subprocess

import pytest

from services import cli
from tests.conftest import RLVR, ROOT


def leaves(commands=cli.COMMANDS, prefix=()):
    for name, spec in commands.items():
        if isinstance(spec, dict):
            yield from leaves(spec, prefix + (name,))
        else:
            yield prefix + (name,), spec


def test_every_command_resolves_to_a_main_taking_argv_and_prog():
    import inspect

    for path, (target, help_line) in leaves():
        main = cli.resolve(target)
        assert list(inspect.signature(main).parameters)[:2] == ["argv", "prog"], path
        assert help_line, path


@pytest.mark.parametrize("path", [p for p, _ in leaves()], ids=" ".join)
def test_help_of_every_command(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*path, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: rlvr {' '.join(path)}")


def test_the_console_script_lists_the_commands_and_names_a_wrong_one():
    listing = subprocess.run([RLVR, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0
    for name in cli.COMMANDS:
        assert f"\n  {name} " in listing.stdout
    wrong = subprocess.run([RLVR, "trian"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "error: no command 'trian'" in wrong.stderr
    group = subprocess.run([RLVR, "bench"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert group.returncode == 2 and "usage: rlvr bench <command>" in group.stdout and "mle-curve" in group.stdout


def test_the_caches_default_to_the_checkout(monkeypatch):
    for name in cli.CACHES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", "/elsewhere")
    cli.use_project_caches()
    import os

    assert os.environ["HF_HOME"] == "/elsewhere"  # what the environment sets wins
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(ROOT / ".cache" / "torch_extensions")
