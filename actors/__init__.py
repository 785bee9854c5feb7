"""actors: agents, supervisors and the orchestrator, as Pykka actors on the bus."""

import logging
from importlib.metadata import PackageNotFoundError, version

from bus import ActorchestraError as ActorchestraError
from bus import OperationalError as OperationalError
from bus import UsageError as UsageError

from ._actor import Actor as Actor
from ._actor import ContainedBaseException as ContainedBaseException
from ._agent import Agent as Agent
from ._agent import HandoffTo as HandoffTo
from ._agent import TaskContext as TaskContext
from ._agent import workflow_namespace as workflow_namespace
from ._backoff import Backoff as Backoff
from ._cancellation import Cancellation as Cancellation
from ._chat import DEFAULT_MODEL_RETRIES as DEFAULT_MODEL_RETRIES
from ._child_spec import ChildSpec as ChildSpec
from ._child_spec import RestartPolicy as RestartPolicy
from ._dynamic import DynamicSupervisor as DynamicSupervisor
from ._errors import ActorDeadError as ActorDeadError
from ._errors import ActorError as ActorError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import LLMOutputError as LLMOutputError
from ._errors import NotJSONError as NotJSONError
from ._errors import PlanningError as PlanningError
from ._errors import PlanValidationError as PlanValidationError
from ._errors import RestartLimitExceeded as RestartLimitExceeded
from ._errors import TaskCancelled as TaskCancelled
from ._errors import TaskError as TaskError
from ._errors import ToolArgumentsError as ToolArgumentsError
from ._errors import WorkflowError as WorkflowError
from ._errors import WorkflowTimeout as WorkflowTimeout
from ._idempotency import idempotency_key as idempotency_key
from ._link import ActorExit as ActorExit
from ._llm import LLMAgent as LLMAgent
from ._orchestrator import Orchestrator as Orchestrator
from ._plan import Plan as Plan
from ._plan import Task as Task
from ._planner import Planner as Planner
from ._protocol import ProtocolViolation as ProtocolViolation
from ._result import TaskResult as TaskResult
from ._result import TaskStatus as TaskStatus
from ._result import WorkflowResult as WorkflowResult
from ._routing import AgentRouter as AgentRouter
from ._routing import CircuitBreaker as CircuitBreaker
from ._strategy import RestartIntensity as RestartIntensity
from ._strategy import RestartStrategy as RestartStrategy
from ._submit import cancel as cancel
from ._submit import resume as resume
from ._submit import submit as submit
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import Supervisor as Supervisor
from ._team import Team as Team
from ._tool import Tool as Tool
from ._tool import side_effect as side_effect
from ._workflow import workflow_span as workflow_span

try:
    __version__ = version("actorchestra")
    """The installed distribution's version (``importlib.metadata``)."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_MODEL_RETRIES",
    "Actor",
    "ActorDeadError",
    "ActorError",
    "ActorExit",
    "ActorchestraError",
    "Agent",
    "AgentRouter",
    "Backoff",
    "Cancellation",
    "ChildInfo",
    "ChildSpec",
    "CircuitBreaker",
    "ConfigurationError",
    "ContainedBaseException",
    "DynamicSupervisor",
    "HandoffTo",
    "LLMAgent",
    "LLMOutputError",
    "NotJSONError",
    "OperationalError",
    "Orchestrator",
    "Plan",
    "PlanValidationError",
    "Planner",
    "PlanningError",
    "ProtocolViolation",
    "RestartIntensity",
    "RestartLimitExceeded",
    "RestartPolicy",
    "RestartStrategy",
    "Supervisor",
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskStatus",
    "Team",
    "Tool",
    "ToolArgumentsError",
    "UsageError",
    "WorkflowError",
    "WorkflowResult",
    "WorkflowTimeout",
    "cancel",
    "idempotency_key",
    "resume",
    "side_effect",
    "submit",
    "workflow_namespace",
    "workflow_span",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
