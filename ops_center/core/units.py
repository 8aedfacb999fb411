"""Responsible units (责任单位) derived from config, so a case is sent to someone who has a seat in the product.

- every configured department is a unit under its own code (`urban_mgmt` = 城管局);
- every community (12-digit area) is a unit `community:<code>` named `<社区名>居委会`;
- every street (9-digit area) is a unit `street:<code>` named `<街道名>办事处`.
A department works anywhere in the site; a community or street unit only on its own branch of the
area tree (its area contains the case's area, or the case sits higher up on the same branch).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

from ops_center.core import area_codes

if TYPE_CHECKING:
    from ops_center.core.config import Config

UNIT_KINDS = ("department", "community", "street")
UNIT_KIND_NAMES = {"department": "职能部门", "community": "社区", "street": "街道"}
TERRITORIAL_PREFIX = {"community": "community:", "street": "street:"}
# Who may approve an extension (the config names one per extension, in order); a leader outranks a shift lead.
APPROVER_ROLES = ("shift_lead", "leader")
APPROVER_RANK = {"shift_lead": 1, "leader": 2, "admin": 3}
HANG_KINDS = MappingProxyType({"engineering": "工程类", "seasonal": "季节性", "policy": "政策待定"})
SATISFACTION = ("满意", "基本满意", "不满意")


@dataclass(frozen=True, slots=True)
class Unit:
    """A responsible unit: its code, display name, kind and (territorial units) its area."""

    code: str
    name: str
    kind: str  # one of UNIT_KINDS
    area: str | None  # None: a department, works in the whole site

    def covers(self, area_code: str) -> bool:
        """Whether a case at `area_code` is on this unit's branch of the area tree."""
        if self.area is None:
            return True
        return area_code.startswith(self.area) or self.area.startswith(area_code)


def is_unit_code(code: str, department_codes: Collection[str], area_codes_known: Collection[str]) -> bool:
    """Whether `code` names a unit, given the configured department and area codes (used by the config check)."""
    if code in department_codes:
        return True
    for kind, prefix in TERRITORIAL_PREFIX.items():
        if code.startswith(prefix):
            area = code.removeprefix(prefix)
            return area in area_codes_known and area_codes.level_of(area) == kind
    return False


def units(cfg: Config) -> Mapping[str, Unit]:
    """Every unit of the site, departments first, then streets and communities in config order."""
    out: dict[str, Unit] = {d.code: Unit(d.code, d.name, "department", None) for d in cfg.departments}
    for kind, suffix in (("street", "办事处"), ("community", "居委会")):
        for area in cfg.areas.items:
            if area_codes.level_of(area.code) == kind:
                code = TERRITORIAL_PREFIX[kind] + area.code
                out[code] = Unit(code, area.name + suffix, kind, area.code)
    return MappingProxyType(out)


def unit_name(cfg: Config, code: str | None) -> str:
    """The display name of a unit code (the code itself when it names no unit any more)."""
    if code is None:
        return ""
    found = units(cfg).get(code)
    return found.name if found else code


def approver_role(cfg: Config, prior_approved: int) -> str:
    """The role the config names for approving the extension after `prior_approved` approved ones."""
    chain = cfg.work_orders.extension_approvers
    return chain[min(prior_approved, len(chain) - 1)]


def may_approve(role: str, required: str) -> bool:
    """A role may approve an extension that needs `required` when it ranks at least as high."""
    return APPROVER_RANK.get(role, 0) >= APPROVER_RANK[required]


def accept_due(cfg: Config) -> timedelta:
    """How long a unit has to 签收 a case it was sent."""
    return cfg.work_orders.accept_within
