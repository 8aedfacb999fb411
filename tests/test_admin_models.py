"""系统管理 → 文本模型 in the browser: a learned version's diff by domain, adopt and rollback, audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from layouts import ids as I
from ops_center.core.lifecycle import Actor, PermissionDenied
from ops_center.web.context import set_context
from rules import model_admin, model_store
from rules.holder import RulesHolder
from rules.learn_run import learn
from tests.fixtures_web import login
from tests.test_rules_learn import RELABELLED, SIMILAR, _event, _file_and_reclassify


@pytest.fixture
def models_ctx(web_app, web_ctx, tmp_path):
    """web_ctx with model versions under tmp_path, a running holder, and one version learned from officers."""
    cfg, now = web_ctx.cfg, web_ctx.clock()
    tm = cfg.rules.text_model.model_copy(update={"dir": str(tmp_path / "models")})
    site_cfg = cfg.model_copy(update={"rules": cfg.rules.model_copy(update={"text_model": tm})})
    holder = RulesHolder([site_cfg.path_of(p) for p in site_cfg.rules.paths], site_cfg)
    _file_and_reclassify(web_ctx.store, web_ctx.bus, site_cfg, now, RELABELLED, "environment")
    model, _ = learn(site_cfg, holder.current, web_ctx.store.cursor(), now - timedelta(days=30), now)
    ctx = replace(web_ctx, cfg=site_cfg, rules=holder)
    set_context(ctx)
    return ctx, model.version


def test_only_an_admin_may_adopt(models_ctx):
    ctx, version = models_ctx
    with pytest.raises(PermissionDenied):
        model_admin.adopt(ctx.store, ctx.rules, ctx.cfg, Actor("duty", "officer", "510100"), version, ctx.clock())
    assert model_store.read_state(ctx.cfg)["active"] == model_store.SHIPPED


@pytest.mark.browser
def test_admin_adopts_a_learned_model_and_rolls_it_back(models_ctx, web_duo):
    ctx, version = models_ctx
    duo = web_duo
    login(duo, "admin", next_path="/admin")
    duo.find_element("button[value='models'], [role='tab'][id$='models']").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_VERSIONS}", version, timeout=10)
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_CURRENT}", "当前使用：shipped", timeout=10)

    duo.find_element(f"#{I.ADMIN_MODEL_SELECT}").click()
    duo.wait_for_element_by_css_selector("[role='option']", timeout=10)
    next(o for o in duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']") if o.text.startswith(version)).click()
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_DIFF}", "环境保护", timeout=10)
    assert "条的领域会改变" in duo.find_element(f"#{I.ADMIN_MODEL_DIFF}").text

    duo.find_element(f"#{I.ADMIN_MODEL_ADOPT}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_STATUS}", f"已采用 {version}", timeout=10)
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_CURRENT}", f"当前使用：{version}", timeout=10)
    assert ctx.rules.current.model.version == version  # live: the next text is classified by it
    assert ctx.rules.current.evaluate(_event(SIMILAR, ctx.clock()))[0].domain == "environment"

    duo.find_element(f"#{I.ADMIN_MODEL_ROLLBACK}").click()
    duo.wait_for_contains_text(f"#{I.ADMIN_MODEL_STATUS}", f"已回滚：{version} → shipped", timeout=10)
    assert ctx.rules.current.model.version == model_store.SHIPPED
    audit = ctx.store.query("SELECT actor, action, target FROM audit_log WHERE action LIKE 'text_model.%' ORDER BY audit_id")
    assert audit == [("admin", "text_model.adopt", f"text_model:{version}"),
                     ("admin", "text_model.rollback", "text_model:shipped")]
    assert duo.get_logs() == []
