"""actors: agents, supervisors and the orchestrator, as Pykka actors on the bus.

Built in floors, each importing only from those below it: ``actors.testing`` (public)
→ ``_agents`` → ``_orchestration`` → ``_supervision`` → the actor core (``_actor``,
``_link``, ``_timers``, ``_backoff``, ``_metrics``, ``_json_value``, ``_errors``) →
``memory`` → ``bus``. This module and ``actors.lowlevel`` re-export; nothing inside
imports them.
"""

import importlib
import logging

from actorchestra._shadowing import check_not_shadowed

check_not_shadowed("bus", "memory")  # before anything else of ours is imported
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from bus import ActorchestraError as ActorchestraError
from bus import OperationalError as OperationalError
from bus import UsageError as UsageError

from ._actor import Actor as Actor
from ._actor import ContainedBaseException as ContainedBaseException
from ._agents.agent import Agent as Agent
from ._agents.agent import Delegate as Delegate
from ._agents.agent import HandoffTo as HandoffTo
from ._agents.cancellation import Cancellation as Cancellation
from ._agents.handoff_edge import HandoffEdge as HandoffEdge
from ._agents.idempotency_keys import idempotency_key as idempotency_key
from ._agents.model_settings import ModelSettings as ModelSettings
from ._agents.model_settings import TaskSettings as TaskSettings
from ._agents.offer import Offer as Offer
from ._agents.review import Review as Review
from ._agents.review import ReviewResult as ReviewResult
from ._agents.review import ReviewRound as ReviewRound
from ._agents.review_loop import ReviewLoop as ReviewLoop
from ._agents.task_context import TaskContext as TaskContext
from ._agents.tool import Tool as Tool
from ._agents.tool import side_effect as side_effect
from ._backoff import Backoff as Backoff
from ._errors import ActorDeadError as ActorDeadError
from ._errors import ActorError as ActorError
from ._errors import BudgetExceeded as BudgetExceeded
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
from ._orchestration.budget import Budget as Budget
from ._orchestration.circuit_breaker import CircuitBreaker as CircuitBreaker
from ._orchestration.condition import Condition as Condition
from ._orchestration.contract_net import ContractNet as ContractNet
from ._orchestration.plan import Plan as Plan
from ._orchestration.plan import Task as Task
from ._orchestration.policies import Limits as Limits
from ._orchestration.policies import RetryPolicy as RetryPolicy
from ._orchestration.pool import AgentPool as AgentPool
from ._orchestration.prices import DEFAULT_PRICES as DEFAULT_PRICES
from ._orchestration.prices import ModelPrice as ModelPrice
from ._orchestration.prices import Prices as Prices
from ._orchestration.redundancy import REDUCERS as REDUCERS
from ._orchestration.redundancy import Ballot as Ballot
from ._orchestration.redundancy import NoConsensus as NoConsensus
from ._orchestration.redundancy import Reducer as Reducer
from ._orchestration.redundancy import Redundancy as Redundancy
from ._orchestration.redundancy import majority as majority
from ._orchestration.redundancy import plurality as plurality
from ._orchestration.redundancy import unanimous as unanimous
from ._orchestration.remote import RemoteAgent as RemoteAgent
from ._orchestration.replan import Replan as Replan
from ._orchestration.result import TaskResult as TaskResult
from ._orchestration.result import TaskStatus as TaskStatus
from ._orchestration.result import WorkflowResult as WorkflowResult
from ._orchestration.stream import WorkflowStream as WorkflowStream
from ._orchestration.team import Team as Team
from ._orchestration.triggers import Trigger as Trigger
from ._orchestration.triggers import TriggerStatistics as TriggerStatistics
from ._orchestration.workflow_future import WorkflowFuture as WorkflowFuture
from ._supervision.child_spec import ChildSpec as ChildSpec
from ._supervision.child_spec import RestartPolicy as RestartPolicy
from ._supervision.dynamic import DynamicSupervisor as DynamicSupervisor
from ._supervision.restart_strategy import RestartStrategy as RestartStrategy
from ._supervision.supervisor import ChildInfo as ChildInfo
from ._supervision.supervisor import Supervisor as Supervisor

if TYPE_CHECKING:
    from ._agents.chat import DEFAULT_MODEL_RETRIES as DEFAULT_MODEL_RETRIES
    from ._agents.endpoints import Endpoints as Endpoints
    from ._agents.endpoints import OutputMode as OutputMode
    from ._agents.llm_agent import LLMAgent as LLMAgent
    from ._agents.planner import Planner as Planner
    from ._agents.rate_limit import RateLimit as RateLimit
    from ._agents.rate_limit import RateLimiter as RateLimiter
    from ._agents.rate_limit import RateLimitStatistics as RateLimitStatistics

# The LLM classes import openai (about half of a cold import): loaded on first use.
_LAZY = {
    "DEFAULT_MODEL_RETRIES": "._agents.chat",
    "Endpoints": "._agents.endpoints",
    "OutputMode": "._agents.endpoints",
    "LLMAgent": "._agents.llm_agent",
    "Planner": "._agents.planner",
    "RateLimit": "._agents.rate_limit",
    "RateLimitStatistics": "._agents.rate_limit",
    "RateLimiter": "._agents.rate_limit",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


try:
    __version__ = version("actorchestra")
    """The installed distribution's version (``importlib.metadata``)."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_MODEL_RETRIES",
    "DEFAULT_PRICES",
    "REDUCERS",
    "Actor",
    "ActorDeadError",
    "ActorError",
    "ActorchestraError",
    "Agent",
    "AgentPool",
    "Backoff",
    "Ballot",
    "Budget",
    "BudgetExceeded",
    "Cancellation",
    "ChildInfo",
    "ChildSpec",
    "CircuitBreaker",
    "Condition",
    "ConfigurationError",
    "ContainedBaseException",
    "ContractNet",
    "Delegate",
    "DynamicSupervisor",
    "Endpoints",
    "HandoffEdge",
    "HandoffTo",
    "LLMAgent",
    "LLMOutputError",
    "Limits",
    "ModelPrice",
    "ModelSettings",
    "NoConsensus",
    "NotJSONError",
    "Offer",
    "OperationalError",
    "OutputMode",
    "Plan",
    "PlanValidationError",
    "Planner",
    "PlanningError",
    "Prices",
    "RateLimit",
    "RateLimitStatistics",
    "RateLimiter",
    "Reducer",
    "Redundancy",
    "RemoteAgent",
    "Replan",
    "RestartLimitExceeded",
    "RestartPolicy",
    "RestartStrategy",
    "RetryPolicy",
    "Review",
    "ReviewLoop",
    "ReviewResult",
    "ReviewRound",
    "Supervisor",
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskSettings",
    "TaskStatus",
    "Team",
    "Tool",
    "ToolArgumentsError",
    "Trigger",
    "TriggerStatistics",
    "UsageError",
    "WorkflowError",
    "WorkflowFuture",
    "WorkflowResult",
    "WorkflowStream",
    "WorkflowTimeout",
    "idempotency_key",
    "majority",
    "plurality",
    "side_effect",
    "unanimous",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
