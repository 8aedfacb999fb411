"""Chinese names of the category codes rules assign, for every table and file a person reads."""

from __future__ import annotations

from typing import Any

CATEGORY_NAMES = {
    "accident": "交通事故", "air_pollution": "大气污染", "air_quality": "空气质量超标", "armed_violence": "持械暴力",
    "billing_inquiry": "费用咨询", "congestion": "交通拥堵", "cooking_fumes": "油烟扰民", "dangerous_driving": "危险驾驶",
    "device_fault": "设备故障", "device_restore": "设备恢复", "dispute": "矛盾纠纷", "drugs_vice": "涉毒涉黄",
    "ebike_in_lift": "电动车进电梯", "elder_missing": "老人走失", "fall": "跌倒", "fight": "打架斗殴",
    "fire_exit_blocked": "消防通道堵塞", "fire_hazard": "消防隐患", "fire_report": "火情报告",
    "fraud_pyramid": "诈骗传销", "gambling": "赌博", "garbage_overflow": "垃圾满溢", "gas_leak": "燃气泄漏",
    "hydrant_low_pressure": "消火栓水压低", "illegal_construction": "违法建设", "illegal_dumping": "违规倾倒",
    "illegal_parking": "违章停车", "insurance_claim": "保险理赔", "labour_dispute": "劳动纠纷",
    "licensing_inquiry": "证照咨询", "lone_elder_check": "独居老人关怀", "manhole_displaced": "井盖移位",
    "missed_checkin": "未按时签到", "missing_person": "人员走失", "no_water_use": "独居老人用水异常", "noise": "噪声扰民",
    "public_facilities": "公共设施损坏", "short_term_rental": "网约房登记", "signal_fault": "信号灯故障",
    "smoke_alarm": "烟感报警", "social_insurance_inquiry": "社保咨询", "sos": "紧急呼叫", "street_light_out": "路灯不亮",
    "street_vending": "占道经营", "suspicious_person": "可疑人员", "theft": "盗窃", "water_pollution": "水污染",
    "waterlogging": "积水内涝", "feed_silent": "数据源静默", "unclassified": "待分类",
}


def category_name(code: Any) -> str:
    """A category's Chinese name; an unknown code is shown as itself, an empty one as nothing."""
    if code is None or (isinstance(code, float) and code != code) or code == "":
        return ""
    return CATEGORY_NAMES.get(str(code), str(code))
