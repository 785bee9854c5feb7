"""The public surface: exports, errors, imports without side effects, lint and types."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import os
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "actors",
    "bus",
    "memory",
    "actors.testing",
    "actors.telemetry",
    "actors.lowlevel",
    "bus.lowlevel",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_every_error_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    # Sorted as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for attr in exported:
        assert hasattr(module, attr), attr
    if "." not in name:
        for sub in (ROOT / name).rglob("_*.py"):
            parts = sub.relative_to(ROOT / name).parts
            if not all(part.startswith("_") for part in parts):
                continue  # a public sub-package (actors.testing) has its own __all__
            dotted = ".".join(sub.relative_to(ROOT).with_suffix("").parts)
            private = importlib.import_module(dotted.removesuffix(".__init__"))
            for obj_name, obj in vars(private).items():
                if (
                    not obj_name.startswith("_")
                    and inspect.isclass(obj)
                    and issubclass(obj, Exception)
                    and obj.__module__.startswith(name)
                ):
                    assert obj_name in exported, (
                        f"{obj_name} from {sub.name} is not in {name}.__all__"
                    )


@pytest.mark.parametrize("name", ["actors", "bus", "memory"])
def test_packages_ship_py_typed(name: str) -> None:
    assert (ROOT / name / "py.typed").is_file()


def test_importing_starts_no_thread_and_installs_no_tracer_provider() -> None:
    code = (
        "import threading, actors, actors.testing, actors.telemetry, bus, memory\n"
        "from opentelemetry import trace\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_importing_the_packages_loads_no_llm_client_sdk_hypothesis_or_nats() -> None:
    # The LLM classes, the telemetry helper, the testing kit and the NATS transport and
    # JetStream stores load them when used.
    code = (
        "import sys, actors, bus, memory\n"
        "optional = ('openai', 'opentelemetry.sdk', 'hypothesis', 'nats')\n"
        "heavy = [m for m in optional if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "assert actors.LLMAgent.__name__ == 'LLMAgent' and 'openai' in sys.modules\n"
        "assert memory.JetStreamEventLog.__name__ == 'JetStreamEventLog' and 'nats' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_nats_py_the_nats_classes_name_the_extra_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["nats"] = None  # as if nats-py were not installed
        import bus, memory
        for package, name in ((bus, "NatsTransport"), (memory, "JetStreamEventLog")):
            try:
                getattr(package, name)
            except ModuleNotFoundError as exc:
                wanted = f"{package.__name__}.{name} needs nats-py: pip install 'actorchestra[nats]'"
                assert str(exc) == wanted, exc
            else:
                raise AssertionError(name)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_ruff_is_clean() -> None:
    # Through this interpreter, so an unactivated venv's python finds its own ruff.
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_the_suite_does_not_depend_on_how_it_is_launched() -> None:
    # As from an unactivated venv: no tool on PATH but the system's, no real endpoint.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REAL_OPENAI_", "OPENAI_"))}
    env["PATH"] = os.defpath
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/test_package.py::test_ruff_is_clean",
            "tests/integration/test_due_diligence.py::test_example_against_a_real_endpoint",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout, proc.stdout
    assert "paid_llm: set REAL_OPENAI_BASE_URL and REAL_OPENAI_API_KEY to run it" in proc.stdout


@pytest.mark.parametrize("name", ["actors", "bus", "memory"])
def test_each_package_states_the_installed_version(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__version__ == importlib.metadata.version("actorchestra")


def test_one_usage_error_base_catches_every_configuration_error() -> None:
    import actors
    import bus
    import memory

    assert actors.UsageError is bus.UsageError is memory.UsageError
    mistakes: list[Callable[[], object]] = [
        lambda: bus.EventBus(tracing=False).subscribe(int, "x"),  # type: ignore[type-var]
        lambda: actors.Team([]),
        lambda: memory.Retention(max_workflows=-1),
        lambda: actors.Plan(tasks=(actors.Task(id="a", agent="ghost"),)).check({"legal"}),
    ]
    for mistake in mistakes:
        with pytest.raises(actors.UsageError):
            mistake()
    for package in (actors, bus, memory):
        assert issubclass(package.ConfigurationError, actors.UsageError)
        assert issubclass(package.ConfigurationError, actors.ActorchestraError)
    # Each package's own base still catches its errors; runtime conditions are apart.
    assert issubclass(actors.WorkflowTimeout, actors.ActorError)
    assert issubclass(actors.WorkflowTimeout, actors.OperationalError)
    assert issubclass(bus.BusClosedError, bus.BusError)
    assert issubclass(memory.StoreFileError, memory.MemoryStoreError)
    assert not issubclass(actors.TaskError, actors.UsageError)


def _modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for package in ("actors", "bus", "memory")
        for p in (ROOT / package).rglob("*.py")
    }


def _imports(module: str, path: Path) -> set[str]:
    """The modules of our three packages that ``module`` imports at run time.

    Relative imports are resolved; imports for type checking only are left out.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("actors", "bus", "memory")}


def test_modules_are_small_and_the_top_of_actors_is_short() -> None:
    lines = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    assert max(lines.values()) <= 400, max(lines.items(), key=lambda kv: kv[1])
    assert statistics.median(lines.values()) < 150
    top = [p.name for p in (ROOT / "actors").glob("*.py")]
    assert len(top) <= 10, sorted(top)


# Floors of actors/, top to bottom: a module imports from its own floor and those below.
FLOORS = [
    "actors.cli",  # the command line: an application of the rest, the surface included
    "actors.testing",
    "actors.worker",
    "actors._agents",
    "actors._orchestration",
    "actors._supervision",
]
SURFACE = {"actors", "actors.lowlevel", "actors.telemetry", "actors.worker.__main__"}


def _floor(module: str) -> int:
    """Index in FLOORS; the actor core (actors._actor, _link, ...) is below them all."""
    for i, floor in enumerate(FLOORS):
        if module == floor or module.startswith(floor + "."):
            return i
    return len(FLOORS)


def test_each_layer_imports_only_from_below() -> None:
    wrong = []
    for module, path in _modules().items():
        imported = _imports(module, path)
        top = module.split(".")[0]
        if top == "bus":
            wrong += [(module, m) for m in imported if m.split(".")[0] != "bus"]
        elif top == "memory":
            wrong += [(module, m) for m in imported if m.split(".")[0] == "actors"]
        elif module in SURFACE:
            wrong += [(module, m) for m in imported if _floor(m) <= 1]  # no kit, no CLI
        else:
            wrong += [
                (module, m)
                for m in imported
                if m.split(".")[0] == "actors"
                and ((m in SURFACE and _floor(module) > 0) or _floor(m) < _floor(module))
            ]
    assert wrong == []
