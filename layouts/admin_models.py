"""系统管理 → 文本模型: model versions, their held-out scores and backtest diff by domain, adopt and roll back.

A block of the admin page (layouts/admin.py adds `panel()` as a tab); every action goes through
rules.model_admin, which checks the admin role itself and writes the audit log.
"""

from __future__ import annotations

import dash_mantine_components as dmc
from dash import Input, Output, State, callback, ctx, html, no_update

from layouts import ids
from layouts.common import gate
from ops_center.core.domains import DOMAIN_NAMES
from ops_center.service.incidents import ServiceError
from ops_center.web.context import get_context
from rules import model_admin, model_store
from rules.textmodel import ModelError


def _table(columns: list[str], rows: list[list]) -> dmc.Table:
    """Plain-text cells only (version names and notes come from files, never rendered as HTML)."""
    body = [dmc.TableTr([dmc.TableTd(str(c)) for c in row]) for row in rows] or [
        dmc.TableTr(html.Td("暂无数据", colSpan=len(columns)))]
    return dmc.Table([dmc.TableThead(dmc.TableTr([dmc.TableTh(c) for c in columns])), dmc.TableTbody(body)],
                     striped=True, withTableBorder=True, fz="sm")


def panel() -> dmc.Stack:
    return dmc.Stack([
        dmc.Text("第二阶段分类：规则未能分类的热线/网格文本，由文本模型在置信度达到阈值时判定领域，否则进入待分类。"
                 "新版本由 `run.py rules learn` 用值班员的改分类与派遣记录训练生成，管理员采用后生效，可回滚。",
                 size="sm", c="dimmed"),
        html.Div(id=ids.ADMIN_MODEL_CURRENT),
        html.Div(id=ids.ADMIN_MODEL_VERSIONS),
        dmc.Group([
            dmc.Select(id=ids.ADMIN_MODEL_SELECT, label="查看版本（按领域对比回测）", data=[], w=280),
            dmc.Button("采用此版本", id=ids.ADMIN_MODEL_ADOPT, size="xs", color="green"),
            dmc.Button("回滚到上一版本", id=ids.ADMIN_MODEL_ROLLBACK, size="xs", color="orange", variant="light"),
        ], align="flex-end"),
        html.Div(id=ids.ADMIN_MODEL_STATUS),
        html.Div(id=ids.ADMIN_MODEL_DIFF),
    ], gap="sm", p="sm")


def _pct(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "—"


def callbacks() -> None:
    """Register this block's callbacks; admin.py calls it as it executes, so every app gets them."""

    @callback(
        Output(ids.ADMIN_MODEL_CURRENT, "children"),
        Output(ids.ADMIN_MODEL_VERSIONS, "children"),
        Output(ids.ADMIN_MODEL_SELECT, "data"),
        Input(ids.ADMIN_REFRESH, "n_clicks"),
        Input(ids.ADMIN_MODEL_STATUS, "children"),
    )
    def versions(_refresh, _status):
        if gate("admin")[0] is None:
            return no_update, no_update, no_update
        cfg = get_context().cfg
        state = model_store.read_state(cfg)
        active = state.get("active", model_store.SHIPPED)
        rows, options = [], []
        for meta in model_store.list_versions(cfg):
            version = meta.get("version", "?")
            held = meta.get("held_out") or {}
            bt = meta.get("backtest") or {}
            rows.append([version, (meta.get("created_at") or "—")[:19], meta.get("examples", "—"),
                         meta.get("site_labels", 0), _pct(held.get("domain_accuracy")),
                         _pct(held.get("out_of_scope_kept_out")), bt.get("changed", "—"),
                         "使用中" if version == active else ("不可用" if meta.get("error") else "")])
            options.append({"value": version, "label": version + ("（使用中）" if version == active else "")})
        current = dmc.Text(f"当前使用：{active}" + ("（未启用文本模型）" if not cfg.rules.text_model.enabled else ""),
                           id=f"{ids.ADMIN_MODEL_CURRENT}-text", fw=600)
        table = _table(["版本", "生成时间", "训练样本", "值班员标注", "留出集准确率", "区外保持率", "回测变化", "状态"], rows)
        return current, table, options


    @callback(
        Output(ids.ADMIN_MODEL_DIFF, "children"),
        Input(ids.ADMIN_MODEL_SELECT, "value"),
        prevent_initial_call=True,
    )
    def diff(version):
        if gate("admin")[0] is None or not version:
            return no_update
        cfg = get_context().cfg
        try:
            meta = model_store.load_version(cfg, version).meta
        except (ModelError, model_store.AdoptError) as exc:
            return dmc.Alert(f"无法读取该版本：{exc}", color="red")
        bt = meta.get("backtest")
        if not bt:
            return dmc.Text("该版本没有回测结果（随产品发布的模型只以语料训练）。", size="sm", c="dimmed")
        rows = [[DOMAIN_NAMES.get(r["domain"], r["domain"]), r["current"], r["new"], f"{r['diff']:+d}"]
                for r in bt["per_domain"]]
        head = (f"回测：{bt['events']} 条已存文本事件，与 {meta.get('backtest_against') or '无模型'} 相比 "
                f"{bt['changed']} 条的领域会改变")
        return dmc.Stack([dmc.Text(head, size="sm"), _table(["领域", "当前模型", "该版本", "差异"], rows)], gap=4)


    @callback(
        Output(ids.ADMIN_MODEL_STATUS, "children"),
        Input(ids.ADMIN_MODEL_ADOPT, "n_clicks"),
        Input(ids.ADMIN_MODEL_ROLLBACK, "n_clicks"),
        State(ids.ADMIN_MODEL_SELECT, "value"),
        prevent_initial_call=True,
    )
    def act(_adopt, _rollback, version):
        user = gate("admin")[0]
        if user is None:
            return dmc.Alert("仅管理员可以采用或回滚文本模型", color="red")
        app = get_context()
        try:
            if ctx.triggered_id == ids.ADMIN_MODEL_ROLLBACK:
                done = model_admin.rollback(app.store, app.rules, app.cfg, user.actor(), app.clock())
                return dmc.Alert(f"已回滚：{done['previous']} → {done['version']}", color="green")
            if not version:
                return dmc.Alert("请先选择要采用的版本", color="yellow")
            done = model_admin.adopt(app.store, app.rules, app.cfg, user.actor(), version, app.clock())
            return dmc.Alert(f"已采用 {done['version']}（原为 {done['previous']}）", color="green")
        except (model_store.AdoptError, ModelError) as exc:
            return dmc.Alert(f"操作失败：{exc}", color="red")
        except ServiceError as exc:
            return dmc.Alert(exc.user_message, color="red")
