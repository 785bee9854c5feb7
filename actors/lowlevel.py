"""The low-level API, for building on the kernel rather than using a :class:`~actors.Team`.

The names a team is built from, for users who wire their own tree (the way
``trio.lowlevel`` sits beside ``trio``):

* :class:`Orchestrator` with :func:`submit`, :func:`resume`, :func:`cancel` and
  :func:`approve` (the approver API), which talk to its ref from any thread (a team's
  own methods do the same for its orchestrator);
* :class:`AgentRouter`, the orchestrator's choice of agent for a task;
* :class:`RestartIntensity`, the sliding window a supervisor counts restarts in;
* :class:`ActorExit`, what a linked actor reports when it stops;
* :func:`workflow_span`, the ``invoke_workflow`` span a team opens around a workflow;
* :func:`child_workflow_id`, the id of the child workflow a task's attempt delegated to,
  and :func:`trigger_workflow_id`, the id of a trigger's workflow for a key.
"""

from ._link import ActorExit as ActorExit
from ._orchestration.delegation import child_workflow_id as child_workflow_id
from ._orchestration.orchestrator import Orchestrator as Orchestrator
from ._orchestration.routing import AgentRouter as AgentRouter
from ._orchestration.submit import approve as approve
from ._orchestration.submit import cancel as cancel
from ._orchestration.submit import resume as resume
from ._orchestration.submit import submit as submit
from ._orchestration.triggers import TriggerActor as TriggerActor
from ._orchestration.triggers import trigger_workflow_id as trigger_workflow_id
from ._orchestration.workflow_span import workflow_span as workflow_span
from ._supervision.restart_strategy import RestartIntensity as RestartIntensity

__all__ = [
    "ActorExit",
    "AgentRouter",
    "Orchestrator",
    "RestartIntensity",
    "TriggerActor",
    "approve",
    "cancel",
    "child_workflow_id",
    "resume",
    "submit",
    "trigger_workflow_id",
    "workflow_span",
]
