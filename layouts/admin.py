"""系统管理 /admin: source health and dead letters, rules (validate/explain/backtest), suppressions, users, audit.

Every mutation goes through a service function that checks the role itself (ops_center.service.users, and
rules.suppress behind an admin check here); raw payloads and user text are always rendered as text.
"""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from ingest import replay as dl_replay
from layouts import admin_catalogue, admin_models, admin_rules, admin_suppressions, admin_users, ids
from layouts.admin_labels import (
    DL_STATE_NAMES,
    SCOPE_NAMES,
    SOURCE_KIND_NAMES,
    STATE_NAMES,
    SUP_STATE_NAMES,
    audit_action_name,
    audit_detail,
    reason_name,
)
from layouts.admin_tables import PRE, panel, text_table
from layouts.admin_tables import stamp_text as _t  # short: the lists below format a stamp in nearly every row
from layouts.common import gate, local_time, shell, tapped
from ops_center.core.domains import DOMAIN_NAMES, ROLE_NAMES
from ops_center.core.units import unit_name
from ops_center.read import queries_admin as qa
from ops_center.read import queries_mapping
from ops_center.read.calendar_coverage import coverage
from ops_center.web.context import get_context

dash.register_page(__name__, path="/admin", title="系统管理", name="系统管理")
admin_models.callbacks()  # Dash runs this file once per app; the 文本模型 block's callbacks come with it
admin_catalogue.callbacks()  # and the 派单目录 block's
admin_users.callbacks()  # and the 用户与角色 form's
admin_rules.callbacks()  # and the 规则 tab's
admin_suppressions.callbacks()  # and the 屏蔽 tab's


def layout(**_: object):
    user, stub = gate("admin")
    if stub is not None:
        return stub
    cfg = get_context().cfg
    tabs = dmc.Tabs(
        [
            dmc.TabsList([dmc.TabsTab(label, value=v) for v, label in (
                ("sources", "数据源与死信"), ("rules", "规则"), ("suppressions", "屏蔽"), ("users", "用户与角色"),
                ("audit", "审计日志"), ("models", "文本模型"), ("catalogue", "派单目录"))]),
            dmc.TabsPanel(panel(
                dmc.Group([dmc.Title("数据源健康", order=5), dmc.Button("刷新", id=ids.ADMIN_REFRESH, size="xs",
                                                                    variant="light")]),
                html.Div(id=ids.ADMIN_SOURCES),
                dmc.Title("死信（无法解析或无法定位的输入，保留原始字节）", order=5),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_DEAD_LETTERS), mah=300),
                html.Div(id=ids.ADMIN_DEAD_LETTER_META),
                dmc.SimpleGrid([
                    dmc.Stack([dmc.Text("原始内容（文本，转义显示）", size="sm", c="dimmed"),
                               html.Pre(id=ids.ADMIN_DEAD_LETTER_TEXT, style=PRE)]),
                    dmc.Stack([dmc.Text("十六进制", size="sm", c="dimmed"),
                               html.Pre(id=ids.ADMIN_DEAD_LETTER_HEX, style=PRE)]),
                ], cols=2),
                *unmapped_block(),
                dead_letter_actions(),
            ), value="sources"),
            dmc.TabsPanel(admin_rules.rules_panel(), value="rules"),
            dmc.TabsPanel(admin_suppressions.suppressions_panel(), value="suppressions"),
            dmc.TabsPanel(admin_users.panel(cfg), value="users"),
            dmc.TabsPanel(panel(
                dmc.TextInput(id=ids.ADMIN_AUDIT_ACTOR, label="按操作人筛选", w=200, debounce=400),
                dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_AUDIT), mah=520),
            ), value="audit"),
            dmc.TabsPanel(admin_models.panel(), value="models"),
            dmc.TabsPanel(admin_catalogue.panel(), value="catalogue"),
        ],
        id=ids.ADMIN_TABS, value="sources",
    )
    return shell("admin", user, calendar_notice(cfg), tabs)


def calendar_notice(cfg) -> dmc.Alert | None:
    """Shown on every admin visit until next year's 放假调休 dates are in config (ops_center/read/calendar_coverage.py)."""
    cov = coverage(cfg, get_context().clock())
    if cov.state == "ok":
        return None
    title = "工作日历已过期" if cov.state == "expired" else "工作日历即将到期"
    return dmc.Alert(cov.message_zh(), title=title, color="red" if cov.state == "expired" else "yellow",
                     id=ids.ADMIN_CALENDAR_NOTICE, mb="sm")


# --- lists ----------------------------------------------------------------------------------


@callback(
    Output(ids.ADMIN_SOURCES, "children"),
    Output(ids.ADMIN_DEAD_LETTERS, "children"),
    Output(ids.ADMIN_RULES_TABLE, "children"),
    Output(ids.ADMIN_RULES_INFO, "children"),
    Output(ids.ADMIN_SUPPRESSIONS, "children"),
    Output(ids.ADMIN_USERS, "children"),
    Output(ids.ADMIN_AUDIT, "children"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
    Input(ids.ADMIN_SUP_STATUS, "children"),
    Input(ids.ADMIN_USER_STATUS, "children"),
    Input(ids.ADMIN_AUDIT_ACTOR, "value"),
)
def lists(_refresh, _sup, _user, actor):
    if gate("admin")[0] is None:
        return (no_update,) * 7
    app = get_context()
    tz = app.cfg.site.timezone
    src = qa.sources(app.cfg, app.store, app.health())
    sources = text_table(
        ["数据源", "编号", "类型", "状态", "最近消息", "消息/分钟", "死信/分钟", "死信（库内）"],
        [[r.name, r.source_id, SOURCE_KIND_NAMES.get(r.kind, r.kind), STATE_NAMES.get(r.state, r.state),
          _t(r.last_message_at, tz),
          f"{r.messages_per_min:.1f}", f"{r.dead_letters_per_min:.1f}", str(r.dead_letters_stored)]
         for r in src.itertuples()],
    )
    dl = qa.dead_letters(app.store)
    handled = dl_replay.states(app.store, [int(i) for i in dl["dead_letter_id"]])
    dead = text_table(
        ["编号", "接收时间", "数据源", "主题", "原因", "说明", "字节", "处理", ""],
        [[str(r.dead_letter_id), _t(r.received_at, tz), r.source_id, r.topic or "", reason_name(r.reason),
          (r.detail or "")[:120], str(int(r.size or 0)), DL_STATE_NAMES.get(handled.get(int(r.dead_letter_id)), "待处理"),
          dmc.Button("查看", id={"type": ids.ADMIN_DL_VIEW, "id": int(r.dead_letter_id)}, size="compact-xs",
                     variant="light")]
         for r in dl.itertuples()],
        empty="暂无死信",
    )
    holder = app.rules
    rules = qa.rules_table(holder.current if holder else None)
    rule_rows = text_table(
        ["规则", "文件:行", "领域", "类别", "等级", "层级", "部门", "说明"],
        [[r.rule_id, f"{r.file}:{r.line}", DOMAIN_NAMES.get(r.domain, r.domain), r.category, r.severity, r.level,
          r.department or "", r.description or ""] for r in rules.itertuples()],
        empty="未加载规则",
    )
    info = (f"运行版本 v{holder.version if holder else 0}，{len(rules)} 条规则"
            + (f"；最近一次修改被拒绝：{holder.last_error}" if holder and holder.last_error else ""))
    sup = qa.suppressions(app.store, now=app.clock(), include_past=True)
    sups = text_table(
        ["编号", "范围", "值", "开始", "结束", "原因", "创建人", "状态"],
        [[str(r.suppression_id), SCOPE_NAMES.get(r.scope, r.scope), r.value, _t(r.starts_at, tz, "%m-%d %H:%M"),
          _t(r.ends_at, tz, "%m-%d %H:%M"), r.reason or "", r.created_by, SUP_STATE_NAMES.get(r.state, r.state)]
         for r in sup.itertuples()],
        empty="暂无屏蔽",
    )
    us = qa.users(app.store)
    user_rows = text_table(
        ["用户名", "姓名", "角色", "所属单位", "辖区", "状态", "更新时间"],
        [[r.username, r.name, f"{ROLE_NAMES.get(r.role, r.role)}（{r.role}）", unit_name(app.cfg, r.unit), r.scope,
          "启用" if r.active else "停用", _t(r.updated_at, tz)] for r in us.itertuples()],
    )
    log = qa.audit_log(app.store, actor=(actor or "").strip() or None)
    audit = text_table(
        ["时间", "操作人", "操作", "对象", "详情"],
        [[_t(r.ts, tz), r.actor, audit_action_name(r.action), r.target or "", audit_detail(r.detail, tz)[:300]]
         for r in log.itertuples()],
        empty="暂无审计记录",
    )
    return sources, dead, rule_rows, info, sups, user_rows, audit


@callback(
    Output(ids.ADMIN_DEAD_LETTER_META, "children"),
    Output(ids.ADMIN_DEAD_LETTER_TEXT, "children"),
    Output(ids.ADMIN_DEAD_LETTER_HEX, "children"),
    Input({"type": ids.ADMIN_DL_VIEW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def inspect(_clicks):
    """The raw bytes of one dead letter as escaped text and hex: shown, never interpreted."""
    trig = ctx.triggered_id
    if gate("admin")[0] is None or not tapped(trig):
        return no_update, no_update, no_update
    app = get_context()
    dl = qa.dead_letter(app.store, int(trig["id"]))
    if dl is None:
        return "该死信不存在", "", ""
    meta = (f"死信 #{dl.dead_letter_id} · {local_time(dl.received_at, app.cfg.site.timezone, '%Y-%m-%d %H:%M:%S')}"
            f" · {dl.source_id} · {dl.topic or '—'} · 原因：{dl.reason} {dl.detail or ''} · {len(dl.raw)} 字节")
    return meta, qa.escaped_text(dl.raw), qa.hex_dump(dl.raw)


# --- unmapped source category codes (issue 12): what an admin could add to a source's category map ---


def unmapped_block() -> list:
    return [dmc.Title("未映射的来源分类（按次数，可加入该数据源的分类映射文件）", order=5),
            dmc.ScrollAreaAutosize(html.Div(id=ids.ADMIN_UNMAPPED), mah=260)]


@callback(Output(ids.ADMIN_UNMAPPED, "children"), Input(ids.ADMIN_REFRESH, "n_clicks"))
def unmapped(_refresh):
    if gate("admin")[0] is None:
        return no_update
    app = get_context()
    df = queries_mapping.unmapped_codes(app.store, app.clock())
    return text_table(["数据源", "来源分类代码", "次数", "最近出现"],
                      [[r.source_id, r.code, str(int(r.count)), _t(r.last_seen, app.cfg.site.timezone)]
                       for r in df.itertuples()], empty="没有未映射的分类代码")


# --- dead-letter replay and discard, Chinese labels (issue 16) --------------------------------------


def dead_letter_actions() -> dmc.Stack:
    """Replay (after fixing a mapping) or discard the dead letter open in the inspector; both audited."""
    return dmc.Stack([
        dcc.Store(id=ids.ADMIN_DL_SELECTED),
        dmc.Group([
            dmc.Button("重放（按当前配置重新解析并入库）", id=ids.ADMIN_DL_REPLAY, size="xs", disabled=True),
            dmc.TextInput(id=ids.ADMIN_DL_NOTE, placeholder="丢弃原因（必填）", w=260, size="xs"),
            dmc.Button("丢弃", id=ids.ADMIN_DL_DISCARD, size="xs", color="red", variant="light", disabled=True),
        ], align="flex-end"),
        html.Div(id=ids.ADMIN_DL_STATUS),
    ], gap=4)


@callback(
    Output(ids.ADMIN_DL_SELECTED, "data"),
    Output(ids.ADMIN_DL_REPLAY, "disabled"),
    Output(ids.ADMIN_DL_DISCARD, "disabled"),
    Input({"type": ids.ADMIN_DL_VIEW, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def select_dead_letter(_clicks):
    """The dead letter opened in the inspector is the one the replay and discard buttons act on."""
    trig = ctx.triggered_id
    if gate("admin")[0] is None or not tapped(trig):
        return no_update, no_update, no_update
    return int(trig["id"]), False, False


@callback(
    Output(ids.ADMIN_DL_STATUS, "children"),
    Output(ids.ADMIN_REFRESH, "n_clicks"),
    Input(ids.ADMIN_DL_REPLAY, "n_clicks"),
    Input(ids.ADMIN_DL_DISCARD, "n_clicks"),
    State(ids.ADMIN_DL_SELECTED, "data"),
    State(ids.ADMIN_DL_NOTE, "value"),
    State(ids.ADMIN_REFRESH, "n_clicks"),
    prevent_initial_call=True,
)
def act_on_dead_letter(_replay, _discard, selected, note, refreshed):
    user = gate("admin")[0]
    if user is None or user.role != "admin":
        return dmc.Alert("仅管理员可以处理死信", color="red"), no_update
    if not selected:
        return dmc.Alert("请先在列表中点“查看”选择一条死信", color="yellow"), no_update
    app = get_context()
    if ctx.triggered_id == ids.ADMIN_DL_REPLAY:
        outcome = dl_replay.replay(app, int(selected), user.username, app.clock())
    else:
        outcome = dl_replay.discard(app.store, int(selected), user.username, note or "", app.clock())
    return dmc.Alert(outcome.message, color="green" if outcome.ok else "red"), (refreshed or 0) + 1
