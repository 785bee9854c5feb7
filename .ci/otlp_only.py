"""Run by .ci/run in a venv holding `pip install ".[otlp]"` (no dev tools, no Hypothesis).

The due-diligence example, configured only by the standard OTEL_* variables, delivers
its trace to an OTLP/gRPC receiver on 127.0.0.1 (the test suite's, tests/otlp_receiver.py,
which needs only what the [otlp] extra installs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    """Run the example once against a receiver; raises AssertionError if the trace is off."""
    root = Path(sys.argv[1]).resolve()
    sys.path.append(str(root))  # for tests.otlp_receiver; installed packages come first
    from tests.otlp_receiver import grpc_receiver  # noqa: PLC0415

    with grpc_receiver() as (endpoint, received), tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_"))}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        proc = subprocess.run(  # noqa: S603 - this interpreter, the example: a fixed argv
            [sys.executable, str(root / "examples" / "due_diligence.py")],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    spans = list(received.spans)
    names = {s.name for s in spans}
    assert "invoke_workflow due_diligence" in names, sorted(names)
    assert any(n.startswith("chat ") for n in names), sorted(names)
    assert len({s.trace_id for s in spans}) == 1, "more than one trace"
    print(f"[otlp] only: the example's trace reached the receiver ({len(spans)} spans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
