"""The README's embedding snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_embedding_snippet_runs(capsys: object) -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 15
    exec(compile(snippet, str(README), "exec"), {"__name__": "readme"})
