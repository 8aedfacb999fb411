"""The fixed vocabulary every part shares: domains, levels, severities, statuses, roles."""

from __future__ import annotations

DOMAIN_CODES = (
    "public_security",
    "fire_safety",
    "environment",
    "city_management",
    "traffic",
    "elderly_care",
)
UNCLASSIFIED = "unclassified"
DOMAIN_NAMES = {
    "public_security": "社会治安",
    "fire_safety": "消防安全",
    "environment": "环境保护",
    "city_management": "城市管理",
    "traffic": "交通管理",
    "elderly_care": "养老关怀",
    UNCLASSIFIED: "待分类",
}

LEVELS = ("community", "street", "district", "city")
LEVEL_NAMES = {"grid": "网格", "community": "社区", "street": "街道", "district": "区", "city": "市"}
AREA_LEVELS = ("city", "district", "street", "community", "grid")

SEVERITIES = ("P1", "P2", "P3", "P4")
SEVERITY_NAMES = {"P1": "紧急", "P2": "重要", "P3": "一般", "P4": "低"}

STATUSES = ("new", "acknowledged", "dispatched", "resolved", "closed", "false_alarm", "merged")
OPEN_STATUSES = ("new", "acknowledged", "dispatched")
STATUS_NAMES = {
    "new": "待受理",
    "acknowledged": "已受理",
    "dispatched": "已派遣",
    "resolved": "已处置",
    "closed": "已结案",
    "false_alarm": "误报",
    "merged": "已合并",
}

ROLES = ("viewer", "officer", "shift_lead", "leader", "admin", "unit", "grid")
ROLE_NAMES = {"viewer": "巡屏值守", "officer": "值班员", "shift_lead": "值班长", "leader": "领导", "admin": "管理员",
              "unit": "责任单位", "grid": "网格员"}

SOURCE_KINDS = ("sensor", "grid", "hotline", "system")
SOURCE_NAMES = {"sensor": "物联感知", "grid": "网格员上报", "hotline": "12345热线", "system": "系统"}

