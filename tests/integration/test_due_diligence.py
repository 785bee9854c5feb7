"""The due-diligence example against a real local OpenAI-compatible server, over HTTP."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from actors.testing import FakeLLMServer
from tests.helpers import DUE_DILIGENCE, ROOT, clean_env, run_example

EXAMPLE = DUE_DILIGENCE
AGENTS = ["financial", "legal", "hr", "market", "risk", "report"]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("due_diligence_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered, so pydantic resolves its models' annotations (Finding's JsonValue).
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example_talks_to_the_endpoint_in_openai_base_url() -> None:
    example = load_example()
    with FakeLLMServer(example.offline_responder) as server:
        proc = run_example(
            env=clean_env(
                OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k", OPENAI_MODEL="served-model"
            )
        )
    assert proc.returncode == 0, proc.stderr
    assert f"model: served-model at {server.base_url}/" in proc.stdout
    rows = re.findall(r"^(t\d)\s+(\w+)\s+(\w+)\s+(\d+)", proc.stdout, re.MULTILINE)
    assert rows == [(f"t{i + 1}", a, "completed", "1") for i, a in enumerate(AGENTS)]
    requests = server.requests
    assert all(r["model"] == "served-model" for r in requests)
    assert requests[0]["response_format"]["json_schema"]["name"] == "Plan"
    agent_requests = requests[1:]
    assert len(agent_requests) == 2 * len(AGENTS)
    prompts = [r["messages"][0]["content"] for r in agent_requests]
    for agent in AGENTS:
        assert sum(p.startswith(f"You are the {agent} agent") for p in prompts) == 2
    # The figures come from the shipped files, through the tools.
    assert "- revenue growth pct: 5.0" in proc.stdout
    assert "- open exposure eur: 1685000.0" in proc.stdout
    assert "- headcount: 178" in proc.stdout


def test_example_reports_bad_input_files_clearly(tmp_path: Path) -> None:
    data = tmp_path / "acme"
    shutil.copytree(ROOT / "examples" / "data" / "northwind", data)
    text = (data / "financials.csv").read_text().replace("48300000", "48.3m")
    (data / "financials.csv").write_text(text)
    proc = run_example("--input", str(data), env=clean_env())
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"error: {data / 'financials.csv'}:4: column 'revenue' is '48.3m', not a number"
    )
    (data / "litigation.txt").unlink()
    proc = run_example("--input", str(data), env=clean_env())
    assert proc.stderr.strip().endswith("not a number")
    shutil.copytree(ROOT / "examples" / "data" / "northwind", tmp_path / "acme2")
    (tmp_path / "acme2" / "litigation.txt").unlink()
    proc = run_example("--input", str(tmp_path / "acme2"), env=clean_env())
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"error: {tmp_path / 'acme2' / 'litigation.txt'}: file not found",
    )


def test_example_runs_on_another_companys_files(tmp_path: Path) -> None:
    data = tmp_path / "blue_river"
    shutil.copytree(ROOT / "examples" / "data" / "northwind", data)
    (data / "litigation.txt").write_text("C-1 | open | 5000000 | Antitrust probe\n")
    proc = run_example("--input", str(data), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert "# Due diligence: Blue River" in proc.stdout
    assert "- open exposure eur: 5000000.0" in proc.stdout


def test_help_lists_the_options() -> None:
    proc = run_example("--help", env=clean_env())
    assert proc.returncode == 0
    for option in ("--input DIR", "--model", "--timeout", "--spans"):
        assert option in proc.stdout


@pytest.mark.paid_llm
def test_example_against_a_real_endpoint() -> None:  # pragma: no cover - needs a paid endpoint
    base_url = os.environ["REAL_OPENAI_BASE_URL"]  # tests/conftest.py skips without it
    env = clean_env(OPENAI_BASE_URL=base_url, OPENAI_API_KEY=os.environ["REAL_OPENAI_API_KEY"])
    model = os.environ.get("REAL_OPENAI_MODEL", "gpt-4o-mini")
    proc = run_example("--model", model, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"model: {model} at {base_url.rstrip('/')}" in proc.stdout


def test_a_second_run_recalls_what_the_first_learned(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    first = run_example("--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "holds 0 facts" in first.stdout
    assert "recalled from earlier runs" not in first.stdout
    second = run_example("--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "holds 6 facts" in second.stdout
    recalled = re.findall(
        r"^  (t\d) (\w+): Risk score (\d+) in the earlier run", second.stdout, re.M
    )
    assert [(t, agent) for t, agent, _ in recalled] == [
        ("t1", "financial"),
        ("t2", "legal"),
        ("t3", "hr"),
        ("t4", "market"),
        ("t5", "risk"),
    ]
    # The recalled scores are the ones the first run's table reported.
    assert "Overall risk: **medium** (score 49/100)" in first.stdout
    assert ("t5", "risk", "49") in recalled


def test_a_foreign_db_file_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("not a database, just notes\n" * 100)
    proc = run_example("--db", str(db))
    assert proc.returncode == 2
    assert re.match(
        r"error: Memory store .*notes.txt' is not a usable SQLite database", proc.stderr
    )
