"""The responsible units in the live demo: once the duty officer dispatches a case, its units answer.

The simulator publishes what sensors, grid workers and the 12345 feed send; nobody in the demo sits at a
unit's desk, so this player does what they would, through the real WorkOrderService (roles, units, reasons
and the audit log as for a person): it accepts (签收) or, now and then, returns (退单) a new order a few
minutes after it arrived, asks for an extension (申请延期) on some accepted lead orders and reports what
was done (处置反馈) on the others; a co-handler reports too. A few actions per round, so the loop unfolds
on the screens at a human pace. Each unit acts as its configured user, or as `<unit>.staff`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ops_center.core.config import Config
from ops_center.core.lifecycle import Actor, ServiceError
from ops_center.service.work_orders import WorkOrderService
from ops_center.store.store import from_db, to_db

log = logging.getLogger(__name__)

FEEDBACK_NOTES = ("已到场处置完毕，现场恢复正常", "已安排人员清理，拍照留存", "已协调相关单位完成整改", "已劝导当事人，问题已解决")
CO_NOTES = ("社区已配合现场劝导", "网格员已协助维持秩序")
RETURN_NOTES = ("经核实不属于本单位职责范围，请中心改派",)
EXTENSION_NOTES = ("需协调施工队伍，申请延期", "等待配件到货，申请延期")

_OPEN_SQL = """
SELECT a.assignment_id, a.unit, a.role, a.status, a.dispatched_at, a.accepted_at, a.decision,
       EXISTS (SELECT 1 FROM extensions e WHERE e.assignment_id = a.assignment_id) AS asked
FROM assignments a JOIN incidents i USING (incident_id)
WHERE a.status IN ('pending', 'accepted') AND i.status = 'dispatched' AND a.dispatched_at >= $since
ORDER BY a.assignment_id
"""


@dataclass(frozen=True)
class Pace:
    """How fast the demo's units work (minutes), and how often they return or ask for more time."""

    accept_after: float = 2.0
    report_after: float = 6.0
    return_share: float = 0.06
    extension_share: float = 0.08
    per_round: int = 5


class UnitPlayer:
    """One round at a time (a scheduler job): act on the open orders that have waited long enough."""

    def __init__(self, work_orders: WorkOrderService, cfg: Config, clock: Callable[[], datetime], seed: int,
                 pace: Pace = Pace()):
        self.work_orders = work_orders
        self.cfg = cfg
        self.clock = clock
        self.pace = pace
        self.rng = random.Random(seed)
        users = {u.unit: u for u in cfg.users if u.unit}
        self.actor_of: Callable[[str], Actor] = lambda unit: (
            Actor.of(users[unit]) if unit in users else Actor(f"{unit}.staff", "unit", cfg.site.city.code, unit))

    def round(self, now: datetime | None = None) -> list[tuple[str, int]]:
        """Act on up to `per_round` orders; returns (action, assignment id) for what was done."""
        now = now or self.clock()
        rows = self.work_orders.store.query(_OPEN_SQL, {"since": to_db(now - timedelta(days=2))})
        done: list[tuple[str, int]] = []
        for assignment_id, unit, role, status, dispatched_at, accepted_at, decision, asked in rows:
            if len(done) >= self.pace.per_round:
                break
            action = self._choose(now, role, status, from_db(dispatched_at), from_db(accepted_at), decision, asked)
            if action is None:
                continue
            try:
                self._act(action, self.actor_of(unit), assignment_id, role)
            except ServiceError as exc:  # a person acted first, or the case moved on: the next round sees it
                log.debug("unit player: %s on order %d refused: %s", action, assignment_id, exc)
                continue
            done.append((action, assignment_id))
        if done:
            log.info("unit player: %s", ", ".join(f"{a} #{i}" for a, i in done))
        return done

    def _choose(self, now: datetime, role: str, status: str, dispatched_at: datetime | None,
                accepted_at: datetime | None, decision: str | None, asked: bool) -> str | None:
        minutes = timedelta(minutes=1)
        if status == "pending":
            if dispatched_at is None or now - dispatched_at < self.pace.accept_after * minutes:
                return None
            if decision != "force" and self.rng.random() < self.pace.return_share:
                return "return_order"
            return "accept"
        if accepted_at is None or now - accepted_at < self.pace.report_after * minutes:
            return None
        if role == "lead" and not asked and self.rng.random() < self.pace.extension_share:
            return "request_extension"
        return "feedback"

    def _act(self, action: str, actor: Actor, assignment_id: int, role: str) -> None:
        wo, pick = self.work_orders, self.rng.choice
        if action == "accept":
            wo.accept(actor, assignment_id)
        elif action == "return_order":
            wo.return_order(actor, assignment_id, pick(RETURN_NOTES))
        elif action == "request_extension":
            wo.request_extension(actor, assignment_id, 4 * 3600, pick(EXTENSION_NOTES))
        else:
            wo.feedback(actor, assignment_id, pick(FEEDBACK_NOTES if role == "lead" else CO_NOTES))
