"""Print pip constraints pinning every runtime dependency to its declared floor.

``pip install -e ".[dev]" -c <(python .ci/oldest_constraints.py)`` installs the oldest
version of each dependency that ``pyproject.toml`` allows (everything else, dev tools and
transitive dependencies included, at the newest), so CI proves the floors true.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def main() -> int:
    """Print one `name==floor` line per runtime dependency; 1 if one has no floor.

    Runtime: the core's dependencies and those of the user-facing extras (``otlp``,
    ``testing``, ``nats``, ``cli``), so the oldest OpenTelemetry SDK, Hypothesis, nats-py
    and rich are proven too.
    """
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    runtime = [*project["project"]["dependencies"]]
    for extra in ("otlp", "testing", "nats", "cli"):
        runtime += extras[extra]
    for requirement in runtime:
        match = FLOOR.match(requirement)
        if match is None:
            print(f"error: {requirement!r} declares no '>=' floor", file=sys.stderr)
            return 1
        print(f"{match[1]}=={match[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
