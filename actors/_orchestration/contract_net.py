"""Contract-net routing (FIPA Contract Net): announce an attempt, take bids, award it once.

A routing strategy per task (``Task.routing``) or team (``Team(contract_net=...)``):
instead of choosing the least-loaded agent, the orchestrator announces the attempt to
every candidate (a :class:`bus.CallForProposals` each), collects their
:class:`bus.Bid` answers until all answered or the deadline passed, and publishes one
:class:`bus.Award` (the best offer by :attr:`ContractNet.score`, or the least-loaded
candidate when no offer came: a fallback), then sends the attempt to the winner.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from actors._errors import ConfigurationError
from bus import Award, Bid, CallForProposals

from .dispatch import Dispatching
from .plan import Task
from .result import TaskStatus
from .workflow_state import TaskRun, Workflow

__all__ = ["BiddingClosed", "ContractNet", "ContractNetting", "lowest_cost"]

logger = logging.getLogger(__name__)


def lowest_cost(bid: Bid) -> float:
    """The default scoring rule: a bid's ``cost`` (the lowest score wins)."""
    return bid.cost


@dataclass(frozen=True, slots=True)
class ContractNet:
    """Route attempts by contract net: the candidates bid, the best offer wins.

    Args:
        deadline: Seconds to wait for bids after announcing an attempt (> 0); the
            award comes as soon as every candidate answered, at the latest then.
        score: The scoring rule: a bid's score, the lowest wins (ties: the least
            loaded, then declaration order). The bid's ``cost`` by default. Runs in
            the orchestrator's thread: it must not block; an exception it raises fails
            the workflow.
        tasks: ``"all"``: every task whose ``routing`` is not ``"direct"``;
            ``"marked"``: only tasks with ``routing="contract_net"``.

    Raises:
        ConfigurationError: ``deadline`` is not positive.

    Example:
        >>> ContractNet(deadline=0.1, score=lambda bid: bid.cost / bid.confidence).tasks
        'all'
    """

    deadline: float = 0.05
    score: Callable[[Bid], float] = lowest_cost
    tasks: Literal["all", "marked"] = "all"

    def __post_init__(self) -> None:
        if not self.deadline > 0:
            msg = f"ContractNet deadline is {self.deadline!r}; give a positive number of seconds."
            raise ConfigurationError(msg)


DEFAULT_CONTRACT_NET = ContractNet()


@dataclass(frozen=True, slots=True)
class BiddingClosed:
    """A call's deadline passed (a timer's message to the orchestrator)."""

    workflow_id: str
    task_id: str
    attempt: int
    cfp_id: str


@dataclass(slots=True)
class _Call:
    """An open call for proposals: one attempt's candidates and the answers so far."""

    cfp_id: str
    candidates: tuple[str, ...]
    policy: ContractNet
    offers: dict[str, Bid] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)


class ContractNetting(Dispatching):
    """Announces contract-net attempts, takes the bids, awards each attempt at most once.

    The open call lives on its :class:`TaskRun` (its deadline is the task's timer), so
    a task that ends while bidding (cancelled, its workflow stopped) drops both: nothing
    is awarded later. A bid for a call no longer open (awarded, an earlier attempt's),
    a second one, or one from an agent not asked is ignored: counted in the task's
    ``late_bids`` (while its workflow runs) and logged at INFO. Offers of agents still
    routed to, with their circuit closed, compete: those with room under
    ``Limits.max_in_flight`` first, else the best offer anyway (a decliner never wins
    while an offer stands); with none, the award is a fallback.
    """

    contract_net: ContractNet | None

    def _routing_of(self, task: Task) -> ContractNet | None:
        if task.routing == "direct":
            return None
        if task.routing == "contract_net":
            return self.contract_net or DEFAULT_CONTRACT_NET
        net = self.contract_net
        return net if net is not None and net.tasks == "all" else None

    def _start_attempt(
        self, wf: Workflow, run: TaskRun, *, new_attempt: bool, route: bool = True
    ) -> None:
        policy = self._routing_of(run.task) if route else None
        candidates = self._router.members(run.target) if policy is not None else ()
        if policy is None or not candidates:
            super()._start_attempt(wf, run, new_attempt=new_attempt, route=route)
            return
        if new_attempt:
            run.attempts += 1
        run.status = TaskStatus.RUNNING
        cfp_id = secrets.token_hex(8)
        run.call = _Call(cfp_id, candidates, policy)
        wf.span.add_event(
            "contract_net.announce",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.task.attempt": run.attempts,
                "actorchestra.contract_net.cfp_id": cfp_id,
                "actorchestra.contract_net.candidates": len(candidates),
            },
        )
        self._set_timer(
            run, policy.deadline, BiddingClosed(wf.id, run.task.id, run.attempts, cfp_id)
        )
        for agent in candidates:
            self._bus.publish(
                CallForProposals(
                    source=self.name,
                    workflow_id=wf.id,
                    task_id=run.task.id,
                    attempt=run.attempts,
                    agent=agent,
                    cfp_id=cfp_id,
                    description=run.task.description,
                    deadline=policy.deadline,
                    candidates=len(candidates),
                    load=self._router.in_flight(agent),
                )
            )

    def _on_bid(self, bid: Bid) -> None:
        """Take a bid: award the attempt once every candidate answered."""
        wf = self._workflows.get(bid.workflow_id)
        run = wf.tasks.get(bid.task_id) if wf is not None else None
        call = run.call if run is not None else None
        if (
            wf is None
            or run is None
            or not isinstance(call, _Call)
            or run.status is not TaskStatus.RUNNING  # ended while bidding
            or call.cfp_id != bid.cfp_id
            or bid.agent not in call.candidates
            or bid.agent in call.answered
        ):
            self._late_bid(bid, run)
            return
        call.answered.add(bid.agent)
        if not bid.declined:
            call.offers[bid.agent] = bid
        if len(call.answered) < len(call.candidates):
            return
        try:
            with self._in_span(wf.span):
                self._award(wf, run, call)
                self._settle(wf)
        except Exception as exc:  # contained to that workflow
            self._contain(exc, wf=wf)

    def _late_bid(self, bid: Bid, run: TaskRun | None) -> None:
        if run is not None:
            run.late_bids += 1
        logger.info(
            "Ignoring a bid of %r for %s/%s attempt %d: its call %s is not open to it",
            bid.agent,
            bid.workflow_id,
            bid.task_id,
            bid.attempt,
            bid.cfp_id,
        )

    def _bidding_closed(self, wf: Workflow, msg: BiddingClosed) -> None:
        """The deadline passed: award the attempt with the offers that came."""
        run = wf.tasks[msg.task_id]
        call = run.call
        if (
            isinstance(call, _Call)
            and call.cfp_id == msg.cfp_id
            and run.status is TaskStatus.RUNNING
        ):
            run.timer = None
            self._award(wf, run, call)

    def _award(self, wf: Workflow, run: TaskRun, call: _Call) -> None:
        """Close ``call``: publish its award, then send the attempt to the winner."""
        run.call = None
        self._set_timer(run, None)
        router, limit = self._router, self.limits.max_in_flight
        members = set(router.members(run.target))  # an agent may have left since
        scored: list[tuple[bool, float, int, int, str]] = []
        for i, agent in enumerate(call.candidates):
            offer = call.offers.get(agent)
            if offer is None or agent not in members or router.is_open(agent):
                continue
            load = router.in_flight(agent)
            full = limit is not None and load >= limit  # offers with room go first
            scored.append((full, call.policy.score(offer), load, i, agent))
        score: float | None = None
        if scored:
            _, score, _, _, winner = min(scored)
        else:
            winner = self._router.choose(run.target)
        fallback = score is None
        wf.span.add_event(
            "contract_net.award",
            {
                "actorchestra.task.id": run.task.id,
                "actorchestra.task.attempt": run.attempts,
                "actorchestra.contract_net.cfp_id": call.cfp_id,
                "actorchestra.contract_net.winner": winner,
                "actorchestra.contract_net.bids": len(call.offers),
                "actorchestra.contract_net.fallback": fallback,
            },
        )
        self._bus.publish(
            Award(
                source=self.name,
                workflow_id=wf.id,
                task_id=run.task.id,
                attempt=run.attempts,
                cfp_id=call.cfp_id,
                winner=winner,
                losers=[a for a in call.candidates if a != winner],
                score=score,
                bids=len(call.offers),
                fallback=fallback,
            )
        )
        run.agent = winner
        # Through the whole chain (a mixin before this one sees the dispatch too); with
        # route=False this class's override passes it on.
        self._start_attempt(wf, run, new_attempt=False, route=False)
