"""The README's embedding snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_embedding_snippet_runs(capsys: object) -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 15
    exec(compile(snippet, str(README), "exec"), {"__name__": "readme"})


def test_every_file_the_map_names_exists() -> None:
    text = README.read_text()
    section = text[text.index("## Map") :]
    named = re.findall(r"`((?:actors|bus|memory)/[\w/]+\.py)`", section)
    assert len(named) >= 20
    missing = [path for path in named if not (README.parent / path).is_file()]
    assert missing == []
