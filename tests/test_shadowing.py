"""A user's own memory/, bus/ or actors/ folder ahead of ours on sys.path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``cwd`` first on sys.path (as a script in that folder would)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An application folder with a package of its own named ``memory``."""
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "__init__.py").write_text("NOTES: list[str] = []\n")
    return tmp_path


def test_a_memory_folder_ahead_of_ours_is_named_with_the_fix(app: Path) -> None:
    proc = python("from actors import Team", app)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("actorchestra._shadowing.ShadowedPackageError: The package 'memory'")
    assert f"is {(app / 'memory').resolve()}, not actorchestra's" in last
    assert "Rename your 'memory', run from another folder, or import" in last
    assert "actorchestra.memory" in last
    # Without the check, the same import failed deep inside with a confusing message.
    assert "cannot import name" not in proc.stderr


def test_actorchestra_imports_ours_whatever_sys_path_holds(app: Path) -> None:
    proc = python(
        "import actorchestra.actors, actorchestra.memory\n"
        "from actors import Team\n"
        "from memory import SQLiteEventLog\n"
        "import memory\n"
        "print(memory is actorchestra.memory, hasattr(memory, 'NOTES'))",
        app,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"]


def test_once_the_users_memory_is_imported_actorchestra_refuses_to_mix(app: Path) -> None:
    proc = python("import memory\nimport actorchestra.memory", app)
    assert proc.returncode == 1
    assert "ShadowedPackageError: The package 'memory' imported here is" in proc.stderr
