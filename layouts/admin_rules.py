"""系统管理's 规则 tab: validate the rule files, explain one event, backtest the rules on stored events."""

from __future__ import annotations

import json
from datetime import timedelta

import dash_mantine_components as dmc
from dash import Input, Output, State, callback, html, no_update

from layouts import ids
from layouts.admin_tables import PRE, panel, text_table
from layouts.common import gate
from ops_center.core.domains import DOMAIN_NAMES
from ops_center.read import queries_admin as qa
from ops_center.web.context import get_context
from rules.backtest import compare, replay
from rules.engine import RuleSet
from rules.eventjson import EventInputError, event_from_dict
from rules.explain import explain_event

NO_RULES = "本进程未加载规则，无法解释或回测"
EXAMPLE_EVENT = json.dumps({"source": "hotline", "text": "小区楼道有人把电动车推进电梯，存在火灾隐患",
                            "area_code": "510108002005"}, ensure_ascii=False, indent=2)
EXPLAIN_TYPE_NAMES = {"rule": "分类规则", "amplify": "升级规则", "fallback": "待分类兜底"}


def rules_panel() -> dmc.Stack:
    """The tab's buttons and result areas; the callbacks below fill them."""
    return panel(
        dmc.Group([dmc.Button("校验规则文件", id=ids.ADMIN_RULES_VALIDATE, size="xs"),
                   html.Div(id=ids.ADMIN_RULES_INFO)]),
        html.Pre(id=ids.ADMIN_RULES_STATUS, style=PRE),
        dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_RULES_TABLE), mah=320),
        dmc.Title("解释：输入一个事件（JSON），查看哪些规则匹配及原因", order=5),
        dmc.Textarea(id=ids.ADMIN_EXPLAIN_INPUT, value=EXAMPLE_EVENT, autosize=True, minRows=4,
                     styles={"input": {"fontFamily": "monospace"}}),
        dmc.Button("解释", id=ids.ADMIN_EXPLAIN_BUTTON, size="xs", w=100),
        html.Div(id=ids.ADMIN_EXPLAIN_RESULT),
        dmc.Title("回测：用当前规则重放已存储的事件（不影响在办事件）", order=5),
        dmc.Group([dmc.Select(id=ids.ADMIN_BACKTEST_DAYS, value="1", allowDeselect=False, w=140,
                              data=[{"value": d, "label": f"最近 {d} 天"} for d in ("1", "7", "30")]),
                   dmc.Button("开始回测", id=ids.ADMIN_BACKTEST_BUTTON, size="xs")]),
        html.Div(id=ids.ADMIN_BACKTEST_RESULT),
    )


def callbacks() -> None:
    """Registered by layouts/admin.py once per app."""

    @callback(
        Output(ids.ADMIN_RULES_STATUS, "children"),
        Input(ids.ADMIN_RULES_VALIDATE, "n_clicks"),
        prevent_initial_call=True,
    )
    def validate(_n):
        if gate("admin")[0] is None:
            return no_update

        app = get_context()
        paths = app.rules.paths if app.rules else [app.cfg.path_of(p) for p in app.cfg.rules.paths]
        try:
            fresh = RuleSet.load(paths, app.cfg)
        except Exception as exc:  # noqa: BLE001 - any load failure is the answer the admin asked for
            return f"校验失败：{exc}"
        return f"校验通过：{len(fresh.rules)} 条规则，{len(fresh.amplifiers)} 条联动升级规则（{len(fresh.files)} 个文件）"


    @callback(
        Output(ids.ADMIN_EXPLAIN_RESULT, "children"),
        Input(ids.ADMIN_EXPLAIN_BUTTON, "n_clicks"),
        State(ids.ADMIN_EXPLAIN_INPUT, "value"),
        prevent_initial_call=True,
    )
    def explain(_n, text):
        if gate("admin")[0] is None:
            return no_update

        app = get_context()
        try:
            event = event_from_dict(json.loads(text or ""), app.clock())
        except ValueError as exc:  # JSONDecodeError and EventInputError are both ValueErrors
            kind = "事件格式错误" if isinstance(exc, EventInputError) else "JSON 解析失败"
            return dmc.Alert(f"{kind}：{exc}", color="red")
        if app.rules is None:
            return dmc.Alert(NO_RULES, color="red")
        rows = explain_event(app.rules.current, event)
        shown = [r for r in rows if r.get("matched") or r.get("selected") or r.get("type") == "model"] or rows[:20]
        return text_table(
            ["结果", "类型", "规则", "文件:行", "原因", "说明"],
            [["✔ 采用" if r.get("selected") else ("匹配" if r.get("matched") else "不匹配"),
              EXPLAIN_TYPE_NAMES.get(r.get("type", ""), r.get("type", "")),
              r.get("rule_id", ""), f"{r.get('file') or '-'}:{r.get('line') or '-'}", r.get("reason", ""),
              r.get("outcome", "")] for r in shown],
            empty="没有规则匹配",
        )


    @callback(
        Output(ids.ADMIN_BACKTEST_RESULT, "children"),
        Input(ids.ADMIN_BACKTEST_BUTTON, "n_clicks"),
        State(ids.ADMIN_BACKTEST_DAYS, "value"),
        prevent_initial_call=True,
    )
    def backtest(_n, days):
        if gate("admin")[0] is None:
            return no_update

        app = get_context()
        if app.rules is None:
            return dmc.Alert(NO_RULES, color="red")
        end = app.clock()
        events, actual = qa.backtest_inputs(app.store, end - timedelta(days=int(days or 1)), end)
        summary = replay(events, app.rules.current)
        report = compare(events, summary, actual)
        head = (f"重放 {summary.events} 条事件（{summary.elapsed_s:.2f} 秒）：将创建 {summary.created} 个事件，"
                f"去重合并 {summary.bumped}，跨源关联 {summary.correlated}，恢复 {summary.cleared}；"
                f"规则变化的事件 {report['changed_events']} 条")
        return dmc.Stack([dmc.Text(head, size="sm"), text_table(
            ["领域", "回测将创建", "实际", "差异"],
            [[DOMAIN_NAMES.get(r["domain"], r["domain"]), str(r["would_create"]), str(r["actual"]),
              f"{r['difference']:+d}"] for r in report["per_domain"]],
            empty="该时段没有事件",
        )])
