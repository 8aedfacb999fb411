"""What the synthetic history is made of: incident categories, their shares, and when reports come in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops_center.core.domains import UNCLASSIFIED

SOURCES = ("sensor", "grid", "hotline")
SOURCE_IDS = {"sensor": "mqtt_sensors", "grid": "mqtt_grid", "hotline": "hotline_drop"}
SOURCE_COMBOS = [[s] for s in SOURCES] + [[a, b] for a in SOURCES for b in SOURCES]


@dataclass(frozen=True)
class Category:
    """One kind of incident: how common, who reports it, how severe, and what a report says."""

    domain: str
    code: str
    name: str
    weight: float  # share within its domain
    sources: tuple[float, float, float]  # sensor, grid, hotline
    severity: tuple[float, float, float, float]  # P1..P4
    kind: str | None = None  # sensor kind
    metric: str | None = None
    value: tuple[float, float] | None = None  # sensor value range when it alarms
    event: str | None = None  # sensor-side event name
    texts: tuple[str, ...] = ()  # grid/hotline report templates; {place} is replaced


# Shares within each domain; the domain shares are DOMAIN_WEIGHTS below.
CATEGORIES: tuple[Category, ...] = (
    Category("public_security", "dispute", "矛盾纠纷", .30, (0, .4, .6), (.02, .15, .58, .25), texts=(
        "{place}邻里因噪音发生纠纷，双方争执不下，请求调解", "{place}商户与顾客发生口角，需社区介入调解",
        "市民反映{place}物业与业主矛盾激化，请求处理")),
    Category("public_security", "theft", "盗窃", .14, (0, .2, .8), (.05, .35, .5, .10), texts=(
        "{place}电瓶车被盗，请求民警处理", "市民来电：{place}家中财物被盗")),
    Category("public_security", "fight", "打架斗殴", .10, (0, .3, .7), (.25, .45, .25, .05), texts=(
        "{place}有人打架斗殴，现场有人受伤", "{place}烧烤摊发生斗殴，请速处置")),
    Category("public_security", "suspicious_person", "可疑人员", .14, (0, .6, .4), (.03, .20, .57, .20), texts=(
        "{place}有可疑人员反复徘徊，请核查", "{place}小区有陌生人挨户推销，形迹可疑")),
    Category("public_security", "short_term_rental", "网约房未登记", .17, (0, .9, .1), (0, .05, .45, .50), texts=(
        "{place}发现网约房未按规定登记住客信息", "网格巡查：{place}民宿未落实实名登记")),
    Category("public_security", "fraud_pyramid", "诈骗传销", .15, (0, .3, .7), (.02, .25, .58, .15), texts=(
        "{place}有人以高息理财为名诱骗老人投资", "{place}疑似传销窝点，人员聚集")),
    Category("fire_safety", "smoke_alarm", "烟感报警", .32, (1, 0, 0), (.35, .50, .15, 0), kind="smoke",
             event="alarm"),
    Category("fire_safety", "gas_leak", "燃气泄漏", .12, (.8, 0, .2), (.55, .40, .05, 0), kind="gas",
             metric="lel_pct", value=(25, 40), texts=("{place}闻到浓烈燃气味，疑似泄漏", "市民来电：{place}楼道有煤气味")),
    Category("fire_safety", "ebike_in_lift", "电动车进电梯", .24, (1, 0, 0), (0, .30, .60, .10), kind="ebike_lift",
             event="alarm"),
    Category("fire_safety", "fire_exit_blocked", "消防通道堵塞", .18, (0, .6, .4), (0, .25, .60, .15), texts=(
        "{place}消防通道被车辆堵塞", "{place}楼道堆放杂物，堵塞安全出口")),
    Category("fire_safety", "hydrant_low_pressure", "消火栓水压低", .14, (1, 0, 0), (0, .20, .60, .20),
             kind="hydrant", metric="pressure_mpa", value=(0.0, 0.13)),
    Category("environment", "air_quality", "空气质量超标", .24, (1, 0, 0), (.02, .18, .55, .25), kind="aqi",
             metric="pm25", value=(115, 260)),
    Category("environment", "noise", "噪声超标", .24, (.5, 0, .5), (0, .10, .60, .30), kind="noise",
             metric="db", value=(72, 95), texts=("{place}工地夜间施工噪声很大", "{place}商铺外放音乐噪声扰民")),
    Category("environment", "illegal_dumping", "违规倾倒", .20, (0, .6, .4), (0, .15, .60, .25), texts=(
        "{place}有人偷倒建筑垃圾", "{place}河边被倾倒大量生活垃圾")),
    Category("environment", "water_pollution", "水体污染", .10, (0, .5, .5), (.05, .30, .50, .15), texts=(
        "{place}河道水体发黑发臭", "{place}排水口有污水直排")),
    Category("environment", "cooking_fumes", "油烟扰民", .22, (0, .4, .6), (0, .15, .60, .25), texts=(
        "{place}餐馆油烟直排", "{place}有人露天焚烧垃圾，浓烟很大")),
    Category("city_management", "street_vending", "占道经营", .24, (0, .8, .2), (0, .05, .60, .35), texts=(
        "{place}有流动摊贩占道经营，影响通行", "{place}门店越门经营，占用人行道")),
    Category("city_management", "garbage_overflow", "垃圾满溢", .19, (0, .7, .3), (0, .10, .60, .30), texts=(
        "{place}垃圾桶满溢未及时清运", "{place}垃圾收集点堆积，气味难闻")),
    Category("city_management", "illegal_construction", "违法建设", .09, (0, .5, .5), (0, .15, .55, .30), texts=(
        "{place}楼顶正在搭建违章建筑", "{place}底商私自扩建")),
    Category("city_management", "manhole_displaced", "井盖移位", .08, (.6, .2, .2), (.10, .70, .20, 0),
             kind="manhole", metric="tilt_deg", value=(10, 35), texts=("{place}井盖缺失，存在安全隐患", "{place}路面井盖松动移位")),
    Category("city_management", "street_light_out", "路灯故障", .15, (.5, .3, .2), (0, .05, .55, .40),
             kind="street_light", event="lamp_out", texts=("{place}路灯不亮", "{place}一排路灯夜间熄灭")),
    Category("city_management", "waterlogging", "积水内涝", .07, (.7, .15, .15), (.15, .45, .35, .05),
             kind="water_level", metric="level_cm", value=(15, 60), texts=("{place}路段积水严重，车辆无法通行",
                                                                          "{place}下穿隧道积水")),
    Category("city_management", "public_facilities", "公共设施损坏", .18, (0, .6, .4), (0, .10, .60, .30), texts=(
        "{place}路面塌陷出现坑洞", "{place}人行道地砖破损翘起")),
    Category("traffic", "accident", "交通事故", .20, (0, .2, .8), (.20, .45, .30, .05), texts=(
        "{place}发生两车追尾事故", "{place}电瓶车与行人相撞，有人受伤")),
    Category("traffic", "congestion", "交通拥堵", .30, (.8, 0, .2), (0, .30, .55, .15), kind="traffic",
             metric="speed_kmh", value=(2, 9), texts=("{place}严重拥堵，车辆排队很长",)),
    Category("traffic", "illegal_parking", "违章停车", .35, (0, .5, .5), (0, .05, .55, .40), texts=(
        "{place}车辆乱停乱放，堵塞路口", "{place}有车辆长期占用消防通道停放")),
    Category("traffic", "signal_fault", "信号灯故障", .15, (.4, .3, .3), (.10, .50, .35, .05), kind="traffic",
             event="signal_fault", texts=("{place}红绿灯不亮", "{place}信号灯一直闪黄灯")),
    Category("elderly_care", "sos", "一键呼救", .30, (1, 0, 0), (.70, .25, .05, 0), kind="sos", event="sos"),
    Category("elderly_care", "fall", "跌倒报警", .20, (1, 0, 0), (.60, .35, .05, 0), kind="fall", event="fall"),
    Category("elderly_care", "no_water_use", "独居老人用水异常", .30, (1, 0, 0), (.10, .55, .35, 0),
             kind="water_meter", metric="hours_since_use", value=(24, 40)),
    Category("elderly_care", "missed_checkin", "未按时签到", .20, (0, .7, .3), (.05, .40, .50, .05), texts=(
        "{place}独居老人今日未签到，电话无人接听", "{place}空巢老人多日未露面，请上门查看")),
    Category(UNCLASSIFIED, "unclassified", "待分类", 1.0, (0, .4, .6), (0, .10, .60, .30), texts=(
        "{place}有情况需要反映，请相关部门联系我", "{place}问题反映多次未解决", "咨询{place}相关政策")),
)

DOMAIN_WEIGHTS = {
    "city_management": .36, "public_security": .19, "environment": .14, "traffic": .13,
    "fire_safety": .09, "elderly_care": .07, UNCLASSIFIED: .02,
}
# Reports per local hour: quiet at night, peaks mid-morning and afternoon, an evening shoulder.
HOUR_WEIGHTS = np.array([.9, .6, .45, .4, .4, .5, .9, 1.6, 2.6, 3.2, 3.3, 3.0,
                         2.4, 2.6, 3.0, 3.1, 3.0, 2.7, 2.4, 2.3, 2.2, 1.9, 1.5, 1.2])
WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 1.02, .86, .80])
STORM_CATEGORIES = ("waterlogging", "manhole_displaced", "congestion", "accident", "public_facilities")


def category_weights() -> np.ndarray:
    """Overall probability of each category (domain share × share within the domain)."""
    w = np.array([DOMAIN_WEIGHTS[c.domain] * c.weight for c in CATEGORIES])
    for domain in DOMAIN_WEIGHTS:
        idx = [i for i, c in enumerate(CATEGORIES) if c.domain == domain]
        inner = sum(CATEGORIES[i].weight for i in idx)
        w[idx] /= inner
    return w / w.sum()
