# /// script
# requires-python = ">=3.11"
# dependencies = ["actorchestra", "fastapi>=0.110", "uvicorn>=0.29"]
# ///
"""A web service that runs workflows: submit, watch progress as server-sent events, approve.

An asyncio application (FastAPI under uvicorn) embeds a team and never blocks its event
loop: ``team.stream`` hands each event of a workflow to the loop as it happens. One
reader per workflow; a reader that disconnects cancels the workflow (its streaming task
is cancelled, and a cancelled reader cancels what it reads).

    POST /workflows                         a plan (JSON) → {"workflow_id": ...}
    GET  /workflows/{id}/events             its events as they happen (text/event-stream;
                                            one reader)
    POST /workflows/{id}/tasks/{task}/approve   open a task's approval gate
    GET  /workflows/{id}                    its result, once it ended

Run ``python examples/web_service.py --port 8000``, then, e.g.::

    curl -s localhost:8000/workflows -d @examples/data/publish_plan.json
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from actors import Agent, Plan, TaskContext, Team, WorkflowError, WorkflowResult, WorkflowStream
from bus import EventBus


class Writer(Agent):
    def handle(self, task: TaskContext) -> object:
        return f"{task.description}: done" + "".join(f" [{r}]" for r in task.inputs.values())


bus = EventBus(tracing=False)
team = Team([Writer.child_spec("writer", bus)], bus=bus)
running: dict[str, WorkflowStream] = {}


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    team.stop()
    bus.stop()


app = FastAPI(lifespan=lifespan)


@app.post("/workflows")
async def submit(plan: Plan) -> dict[str, str]:
    events = team.stream(plan, timeout=300)
    running[events.workflow_id] = events
    return {"workflow_id": events.workflow_id}


@app.get("/workflows/{workflow_id}/events")
async def events(workflow_id: str) -> StreamingResponse:
    stream = _find(workflow_id)

    async def sse() -> AsyncIterator[str]:
        async for event in stream:  # the attempt token is a secret: never sent out
            data = event.model_dump_json(exclude={"attempt_token"})
            yield f"event: {event.type}\ndata: {data}\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")


@app.post("/workflows/{workflow_id}/tasks/{task_id}/approve")
async def approve(workflow_id: str, task_id: str) -> dict[str, bool]:
    _find(workflow_id)
    team.approve(workflow_id, task_id, by="web")
    return {"approved": True}


@app.get("/workflows/{workflow_id}")
async def result(workflow_id: str) -> WorkflowResult:
    try:
        return _find(workflow_id).result
    except WorkflowError as exc:
        raise HTTPException(409, str(exc)) from None


def _find(workflow_id: str) -> WorkflowStream:
    stream = running.get(workflow_id)
    if stream is None:
        raise HTTPException(404, f"No workflow {workflow_id!r} was submitted here.")
    return stream


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port)
