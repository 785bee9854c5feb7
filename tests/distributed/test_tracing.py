"""A workflow whose agents run in other processes is one trace in the OTLP receiver."""

from __future__ import annotations

from tests.helpers import ROOT, clean_env, run_example
from tests.otlp_receiver import grpc_receiver

SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 4, 5


def test_the_distributed_due_diligence_workflow_is_one_trace_across_its_processes() -> None:
    with grpc_receiver() as (endpoint, received):
        env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        proc = run_example(example=ROOT / "examples" / "distributed_due_diligence.py", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        spans = list(received.spans)
    assert {s.trace_id for s in spans} == {spans[0].trace_id}, "more than one trace"
    services = {s.resource["service.name"] for s in spans}
    assert services == {"due-diligence", "w1", "w2"}  # the orchestrator's and both workers'
    by_id = {s.span_id: s for s in spans}
    [root] = [s for s in spans if s.parent_span_id not in by_id]
    assert root.name == "invoke_workflow due_diligence"
    sends = [s for s in spans if s.name.startswith("send duediligence.to.")]
    assert sends and all(s.kind == SPAN_KIND_PRODUCER for s in sends)
    assert all(s.attributes["messaging.system"] == "nats" for s in sends)
    received_over_nats = [
        s
        for s in spans
        if s.kind == SPAN_KIND_CONSUMER and s.attributes["messaging.system"] == "nats"
    ]
    for span in received_over_nats:  # each hop over NATS continues from its send span
        parent = by_id[span.parent_span_id]
        assert parent.name == f"send {span.attributes['messaging.destination.name']}"
        assert parent.resource["service.name"] != span.resource["service.name"]
    assert {s.resource["service.name"] for s in received_over_nats} == services
    agents = [s for s in spans if s.name.startswith("invoke_agent ")]
    assert {s.resource["service.name"] for s in agents} == {"w1", "w2"}
