"""Every example runs offline and exits cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    p
    for p in (ROOT / "examples").glob("*.py")
    # company_data is a module; web_service serves until stopped (tests/test_web_service.py)
    if not p.name.startswith("_") and p.name not in ("company_data.py", "web_service.py")
)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_offline(example: Path) -> None:
    proc = run_example(example=example)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_due_diligence_prints_the_task_table_and_span_tree() -> None:
    proc = run_example("--spans")
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"^t\d\s+\w+\s+completed", proc.stdout, re.MULTILINE)) == 6
    assert "# Due diligence: Northwind" in proc.stdout
    assert re.search(r"^invoke_workflow due_diligence \(", proc.stdout, re.MULTILINE)
    assert re.search(r"^ +chat offline-scripted \(", proc.stdout, re.MULTILINE)


def test_supervision_tree_prints_every_restart_in_order() -> None:
    proc = run_example(example=ROOT / "examples" / "supervision_tree.py")
    assert proc.returncode == 0, proc.stderr
    restart_log = proc.stdout.split("Restart log\n", 1)[1].split("\n\nFinal tree", 1)[0]
    lines = restart_log.splitlines()
    # Each step's restarts end before the next fault: the janitor's crash comes after
    # the db crash's whole rest_for_one restart, and the escalation's restart is last.
    assert lines.index(
        "   root: janitor crashed (ConnectionError: janitor lost its connection)"
    ) == (lines.index("  tools: restarted cache (restart #2)") + 1)
    assert lines[-1] == "   root: restarted tools (restart #1)"
    assert "    cache [alive, permanent, restarts=0]" in proc.stdout


def test_triage_routes_each_request_to_its_specialist_with_typed_context() -> None:
    proc = run_example(example=ROOT / "examples" / "triage.py")
    assert proc.returncode == 0, proc.stderr
    routed = re.findall(r"^(r\d)\s+(\w+)\s+completed", proc.stdout, re.MULTILINE)
    assert routed == [("r1", "billing"), ("r2", "tech"), ("r3", "sales")]
    assert (
        'r1: triage -> billing (a billing issue) {"invoice_id": "INV-1042", "issue": "refund"}'
        in proc.stdout
    )
    assert "r1 [billing] A refund for INV-1042 is on its way." in proc.stdout


def test_event_driven_starts_one_workflow_per_ticket_and_prints_its_trace() -> None:
    proc = run_example("--spans", example=ROOT / "examples" / "event_driven.py")
    assert proc.returncode == 0, proc.stderr
    assert "4 tickets, 3 workflows, 1 duplicate" in proc.stdout
    assert proc.stdout.count(": completed") == 3
    tree = proc.stdout.split("publish helpdesk.ticket_opened", 1)[1]
    assert re.search(r"^  process helpdesk\.ticket_opened .*\n    invoke_workflow ", tree, re.M)


def test_budget_stops_the_workflow_and_prints_what_was_spent() -> None:
    proc = run_example(example=ROOT / "examples" / "budget.py")
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"^stopped: spent \$0\.\d+, over its budget of \$0\.0006\n", proc.stdout)
    assert re.search(r"^t2\s+w2\s+cancelled\s+0\s", proc.stdout, re.MULTILINE)
    assert re.search(r"^total\s+\d+\s+0\.\d{6}$", proc.stdout, re.MULTILINE)


def test_research_write_review_revises_twice_then_approves_or_stops_at_the_cap() -> None:
    example = ROOT / "examples" / "research_write_review.py"
    proc = run_example(example=example)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^research\s+researcher\s+completed", proc.stdout, re.MULTILINE)
    assert re.search(r"^article\s+reviewer\s+completed\s+1\s", proc.stdout, re.MULTILINE)
    rounds = re.findall(r"^round (\d): draft: ", proc.stdout, re.MULTILINE)
    assert rounds == ["1", "2", "3"]
    assert proc.stdout.count("         revise: ") == 2
    assert "approved after 3 of at most 3 rounds:\n" in proc.stdout
    assert "It has run since 1966.\n" in proc.stdout
    assert "writer 'writer' starts round 3, the last of max_rounds=3" in proc.stderr
    capped = run_example("--max-rounds", "2", example=example)
    assert capped.returncode == 0, capped.stderr
    assert "NOT approved (the cap): Say since when it has run.\n" in capped.stdout
    assert "NOT approved (the cap) after 2 of at most 2 rounds:\n" in capped.stdout


def test_partial_results_reports_what_is_missing_and_skips_by_condition() -> None:
    proc = run_example(example=ROOT / "examples" / "partial_results.py")
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    assert first.endswith("Missing: news (failed: TaskError: the news feed is down).")
    assert second.startswith("workflow: completed; not completed: {'news': ")
    assert re.search(r"^escalate\s+reporter\s+skipped\s+0\s", proc.stdout, re.MULTILINE)
    high = run_example("--risk", "high", example=ROOT / "examples" / "partial_results.py")
    assert re.search(r"^escalate\s+reporter\s+completed\s+1\s", high.stdout, re.MULTILINE)


def test_elastic_pool_grows_to_eight_and_back_to_one() -> None:
    proc = run_example(example=ROOT / "examples" / "elastic_pool.py")
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"^40 filings read in \d\.\d\d s \(0\.1 s each\): completed\n", proc.stdout)
    sizes = [int(s) for s in re.findall(r"size (\d+)$", proc.stdout, re.MULTILINE)]
    assert max(sizes) == 8 and sizes[-1] == 1
    assert proc.stdout.rstrip().endswith("members that worked: 8; final size: 1")


def test_contract_net_awards_sections_to_the_best_free_bidder() -> None:
    proc = run_example(example=ROOT / "examples" / "contract_net.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "financial  -> ada  (3 h, offers: 3)",
        "legal      -> ben  (20 h, offers: 2)",
        "hr         -> dee  (2 h, offers: 2)",
        "market     -> dee  (3 h, offers: 2)",
        "tax        -> ada  (4 h, offers: 2)",  # ben, the cheapest, is busy: its bid is late
        "risk       -> cy   (5 h, offers: 2)",
        "report     -> cy   (3 h, offers: 1)",
        "late bids ignored: 1",
        "report: completed, report section by cy",
    ]


def test_hierarchical_prints_the_result_tree_and_the_nested_trace() -> None:
    proc = run_example("--spans", example=ROOT / "examples" / "hierarchical.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "market: grows 8 % a year; risks: {'legal': 'one open lawsuit', 'supply': 'two "
        "suppliers'}; team: 40 people, low churn\n"
    )
    rows = re.findall(r"^( *)(\w+) +(\w+) +completed +1 ", proc.stdout, re.MULTILINE)
    assert rows == [
        ("", "report", "lead"),
        ("  ", "market", "writer"),
        ("  ", "team", "writer"),
        ("  ", "risks", "writer"),
        ("    ", "legal", "writer"),
        ("    ", "supply", "writer"),
        ("  ", "assemble", "lead"),
    ]
    workflows = re.findall(r"^( *)invoke_workflow (\w+) ", proc.stdout, re.MULTILINE)
    depth = [(len(indent), name) for indent, name in workflows]
    assert [name for _, name in depth] == ["workflow", "report", "risks"]
    assert depth[0][0] < depth[1][0] < depth[2][0]  # each inside its parent's trace


def test_shared_rate_limit_keeps_twenty_agents_under_the_endpoints_limit() -> None:
    proc = run_example(example=ROOT / "examples" / "shared_rate_limit.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["requests made: 21", "429s seen: 0"]
    assert re.match(r"^waited for turns: \d+\.\d s in all$", lines[2])
    assert re.match(r"^time: \d+\.\d s, tasks completed$", lines[3])


def test_redundancy_outvotes_a_misreading_and_cancels_the_slow_replica() -> None:
    proc = run_example(example=ROOT / "examples" / "redundancy.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:5] == [
        "notice period: 90 days (decided by a vote, result from reader-a)",
        "  reader-a: 90 days",
        "  reader-b: 30 days",
        "  reader-c: 90 days",
        "summary: Either party may end it on 90 days' notice. (first answer, from backup)",
    ]
    cancelled = re.fullmatch(r"  cancelled: primary; the run took (\d+\.\d) s", lines[5])
    assert cancelled is not None and float(cancelled.group(1)) < 4.0, lines[5]  # not 5 s
    assert lines[6].endswith("(every replica's); workflow completed")
