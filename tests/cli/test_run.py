"""``actorchestra run``: the live view in a pseudo-terminal, plain lines in a pipe, errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from actors.cli import main
from tests.cli.helpers import ROOT, TEAM, cli, cli_env

pexpect = pytest.importorskip("pexpect")
pytest.importorskip("rich")

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
REDRAW = b"\x1b[2K\x1b[1A"  # rich's Live: erase the line, cursor up (one per line drawn)


def test_the_console_script_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"actorchestra": "actors.cli:main"}


def test_run_shows_a_table_updated_in_place_in_a_terminal(plan_file: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "actors.cli", "run", str(plan_file), "--team", TEAM],
        cwd=str(ROOT),
        env=cli_env(CLI_TEST_PAUSE="0.3", TERM="xterm-256color", COLUMNS="120"),
        dimensions=(40, 120),
        timeout=60,
    )
    try:
        child.expect(pexpect.EOF)
        output = child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, output
    # Each redraw goes back over the table drawn before: the frames are the states.
    frames = [ESCAPES.sub(b"", f).decode() for f in output.split(REDRAW) if b"task" in f]
    assert len(frames) >= 3, output
    first_running = next(f for f in frames if re.search(r"│ a +│ left +│ running", f))
    assert re.search(r"│ d +│ right +│ pending", first_running)
    last = frames[-1]
    for task, agent in (("a", "left"), ("b", "right"), ("c", "left"), ("d", "right")):
        assert re.search(rf"│ {task} +│ {agent} +│ completed +│ +1 │ +0\.\d\ds │ +10 │", last)
    assert "(completed)" in last
    tail = ESCAPES.sub(b"", output.rpartition(REDRAW)[2]).decode()
    assert re.search(r"workflow \w+: completed in \d+\.\d\d s, 40 tokens", tail)
    assert "answer: d(b(a),c(a))" in tail


def test_run_prints_one_plain_line_per_state_change_when_piped(plan_file: Path) -> None:
    proc = cli("run", str(plan_file), "--team", TEAM, "--workflow-id", "w1")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    lines = proc.stdout.splitlines()
    changes = [line.split()[1:3] for line in lines if line.lstrip()[:1].isdigit()]
    assert sorted(changes) == sorted([[t, s] for t in "abcd" for s in ("running", "completed")]), (
        proc.stdout
    )
    assert re.match(
        r" +\d+\.\d{3}s  d +completed +attempt 1  right +\d+\.\d\ds  10 tokens$", lines[7]
    )
    assert re.match(r"workflow w1: completed in \d+\.\d\d s, 40 tokens$", lines[8])
    assert lines[9:] == ["answer: d(b(a),c(a))"]


def test_a_failed_workflow_exits_1_and_says_why(plan_file: Path) -> None:
    proc = cli("run", str(plan_file), "--team", TEAM, "--workflow-id", "w1", CLI_TEST_FAIL="b")
    assert proc.returncode == 1
    assert re.search(r"b +failed +attempt 1 .* TaskError: b was told to fail", proc.stdout)
    assert re.search(r"d +cancelled +attempt 0 .* dependency 'b' did not complete", proc.stdout)
    assert "workflow w1: failed" in proc.stdout


def test_interactive_approval_in_a_terminal(tmp_path: Path) -> None:
    plan = {
        "tasks": [
            {"id": "a", "agent": "left"},
            {
                "id": "pay",
                "agent": "right",
                "depends_on": ["a"],
                "needs_approval": True,
                "description": "pay the invoice",
            },
        ]
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "actors.cli",
            "run",
            str(tmp_path / "plan.json"),
            "--team",
            TEAM,
            "--approve-interactively",
        ],
        cwd=str(ROOT),
        env=cli_env(TERM="xterm-256color"),
        dimensions=(40, 120),
        timeout=60,
    )
    try:
        child.expect_exact("approve task pay (right: pay the invoice)? [y/N] ")
        child.sendline("y")
        child.expect(pexpect.EOF)
        output = ESCAPES.sub(b"", child.before).decode()
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, output
    assert re.search(r"│ pay +│ right +│ completed .* approved by ", output)
    assert "answer: pay(a)" in output


def test_graph_and_spans_at_the_end(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", str(plan_file), "--team", TEAM, "--graph", "--spans", "--plain"])
    out = capsys.readouterr().out
    assert status == 0, out
    graph = out[out.index("flowchart TD") :]
    assert '    n3["d<br/><small>right</small><br/><i>completed</i>"]' in graph
    assert "    n2 -.-> n3" in graph
    assert "    class n0,n1,n2,n3 completed" in graph
    assert re.search(r"^invoke_workflow workflow \(\d+\.\d ms\)$", out, re.MULTILINE)
    assert re.search(r"^  publish workflow\.started ", out, re.MULTILINE)


def _write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "{tmp}/missing.json"], r"{tmp}/missing\.json: no such file"),
        (["run", "@not-json"], r"{tmp}/p\.json: not JSON \(line 1: Expecting value\)"),
        (
            ["run", "@no-agent"],
            r"{tmp}/p\.json: not a plan \(tasks\.0\.agent: Field required\)",
        ),
        (
            ["run", "@ghost"],
            r"Task 'a' names unknown agent 'ghost'; declared agents are \['left', 'right'\]\.",
        ),
        (
            ["run", "@ghost", "--team", "no_such_module:team"],
            r"--team 'no_such_module:team': cannot import 'no_such_module' "
            r"\(No module named 'no_such_module'\)",
        ),
        (
            ["run", "@ghost", "--team", "tests.cli.teams:nothing"],
            r"--team 'tests\.cli\.teams:nothing': module 'tests\.cli\.teams' has no "
            r"attribute 'nothing'",
        ),
        (
            ["run", "@ghost", "--team", "tests.cli.teams"],
            r"--team 'tests\.cli\.teams': expected package\.module:factory",
        ),
        (
            ["run", "@ghost", "--team", "tests.cli.teams:own_bus"],
            r"--team 'tests\.cli\.teams:own_bus': build the team on the bus the factory "
            r"is given",
        ),
        (["log", "{tmp}/missing.db"], r"{tmp}/missing\.db: no such file"),
        (["resume", "{tmp}/missing.db", "w"], r"{tmp}/missing\.db: no such file"),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    contents = {
        "@not-json": "",
        "@no-agent": '{"tasks": [{"id": "a"}]}',
        "@ghost": '{"tasks": [{"id": "a", "agent": "ghost"}]}',
    }
    argv = [
        _write(tmp_path, "p.json", contents[a]) if a in contents else a.format(tmp=tmp_path)
        for a in args
    ]
    if argv[0] in ("run", "resume") and "--team" not in argv:
        argv += ["--team", TEAM]
    proc = cli(*argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    expected = "actorchestra: error: " + message.format(tmp=re.escape(str(tmp_path))) + "\n"
    assert re.fullmatch(expected, proc.stderr), proc.stderr


def test_worker_is_python_m_actors_worker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--help"])
    assert exit_info.value.code == 0
    assert "--agents" in capsys.readouterr().out


def test_without_rich_a_terminal_gets_plain_lines(plan_file: Path) -> None:
    code = (
        "import sys; sys.modules['rich'] = None\n"  # as if the [cli] extra were not installed
        "from actors.cli import main\n"
        f"sys.exit(main(['run', {str(plan_file)!r}, '--team', {TEAM!r}]))\n"
    )
    child = pexpect.spawn(sys.executable, ["-c", code], cwd=str(ROOT), env=cli_env(), timeout=60)
    try:
        child.expect(pexpect.EOF)
        output = child.before.decode()
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, output
    assert "\x1b" not in output
    assert len(re.findall(r"^ +\d+\.\d{3}s  [abcd] +(running|completed) ", output, re.M)) == 8


def test_past_its_timeout_the_workflow_is_cancelled_and_the_exit_status_is_1(
    plan_file: Path,
) -> None:
    proc = cli(
        *("run", str(plan_file), "--team", TEAM, "--workflow-id", "w1", "--timeout", "0.5"),
        CLI_TEST_HOLD="b",
    )
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"b +cancelled +attempt 1 ", proc.stdout), proc.stdout
    assert "workflow w1: cancelled in " in proc.stdout


def test_ctrl_c_cancels_the_workflow_and_exits_130(plan_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "actors.cli", "run", str(plan_file), "--team", TEAM, "--db", str(db)],
        cwd=str(ROOT),
        env=cli_env(CLI_TEST_HOLD="b", TERM="xterm-256color"),
        dimensions=(40, 120),
        timeout=60,
    )
    try:
        child.expect(r"│ b +│ right +│ (\x1b\[[0-9;]*m)?running".encode())
        child.sendintr()
        child.expect(pexpect.EOF)
        output = ESCAPES.sub(b"", child.before).decode()
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, output
    assert "actorchestra: interrupted; the workflow was cancelled" in output
    listed = cli("log", str(db))
    assert re.search(r"^\w+ +workflow +cancelled ", listed.stdout, re.M), listed.stdout


def test_a_factory_may_be_a_context_manager_starting_what_the_team_needs(
    plan_file: Path,
) -> None:
    proc = cli("run", str(plan_file), "--team", "tests.cli.teams:llm_team", "--workflow-id", "w1")
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"d +completed +attempt 1  right +\d+\.\d\ds  [1-9]\d* tokens$", proc.stdout, re.M
    )
    assert "answer: ok" in proc.stdout


def test_sigterm_cancels_the_workflow_and_exits_143(plan_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    command = ["-m", "actors.cli", "run", str(plan_file), "--team", TEAM, "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=cli_env(CLI_TEST_HOLD="b"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # plain lines: not a terminal
            if re.search(r"s  b +running", line):
                break
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "actorchestra: terminated (SIGTERM); the workflow was cancelled" in stderr
    listed = cli("log", str(db))
    assert re.search(r"^\w+ +workflow +cancelled ", listed.stdout, re.M), listed.stdout
