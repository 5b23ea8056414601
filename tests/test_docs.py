"""The docs site builds with `mkdocs build --strict` (a dead link or a page missing from the nav fails
it), the configuration page is generated from the config, and no page points outside the repository."""

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_site_builds_strict_with_the_generated_config_reference(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (tmp_path / "guides" / "configuration" / "index.html").read_text()
    assert "learner.algorithm.kl_coef" in page and "rollout.verify_sync_every" in page


def test_a_dead_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n[gone](nowhere.md)\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\nnav: [index.md]\n")
    proc = subprocess.run([str(Path(sys.executable).with_name("mkdocs")), "build", "--strict"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "nowhere.md" in proc.stderr


def test_docs_and_readme_stay_inside_the_repository():
    outside = re.compile(r"\.\./shared|PAPER\.md|WEB\.md|PLATFORM\.md|DESIGN\.md|python -m (services|rewards|worlds|learner)\b")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not outside.search(line), f"{path.relative_to(ROOT)}:{number}: {line}"
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_config_names_its_results_page():
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        first = config.read_text().splitlines()[0]
        page = re.search(r"docs/\S+\.md", first)
        assert page and (ROOT / page.group(0)).is_file(), f"{config.name}: first line names no results page: {first}"
