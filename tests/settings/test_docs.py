"""docs/settings.md is the generated settings table, and the README points to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- generated -->\n"


def test_the_settings_table_matches_the_code(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOTMON_")}
    done = subprocess.run(
        [sys.executable, "-m", "botmon", "config", "show", "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean,
    )
    assert done.returncode == 0, done.stderr
    documented = (ROOT / "docs" / "settings.md").read_text().split(MARKER, 1)[1]
    assert documented == done.stdout, "regenerate docs/settings.md (see its first lines)"


def test_the_readme_says_how_settings_are_given() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    for needle in ("BOTMON_", "botmon config show", "docs/settings.md", "--format json"):
        assert needle in section
