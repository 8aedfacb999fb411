"""The admin screen lists source category codes no mapping knows, with counts (admins only)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from layouts import ids as I
from ops_center.store.store import to_db
from tests.fixtures_web import client_login
from tests.test_admin import admin_ctx  # noqa: F401 - the fixture

BODY = {
    "output": f"{I.ADMIN_UNMAPPED}.children",
    "outputs": {"id": I.ADMIN_UNMAPPED, "property": "children"},
    "inputs": [{"id": I.ADMIN_REFRESH, "property": "n_clicks", "value": 1}],
    "changedPropIds": [f"{I.ADMIN_REFRESH}.n_clicks"],
}


def seed(store, now):
    rows = [(1, "Litter Basket Request", None), (2, "Litter Basket Request", None), (3, "Rodent", None),
            (4, "Illegal Parking", '{"domain": "traffic"}')]

    def insert(conn):
        for i, code, mapped in rows:
            fields = f'{{"source_code": "{code}"' + (f', "mapped": {mapped}' if mapped else "") + "}"
            conn.execute("INSERT INTO events (event_id, source, source_id, natural_key, key_hash, occurred_at, "
                         "received_at, fields) VALUES (?, 'hotline', 'nyc_export', ?, ?, ?, ?, ?)",
                         [100 + i, f"k{i}", i, to_db(now), to_db(now - timedelta(minutes=i)), fields])

    store.write(insert)


def test_admin_sees_unmapped_codes_with_counts(admin_ctx, web_client):  # noqa: F811
    seed(admin_ctx.store, admin_ctx.clock())
    client_login(web_client, "admin")
    resp = web_client.post("/_dash-update-component", json=BODY)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "Litter Basket Request" in text and "Rodent" in text and "Illegal Parking" not in text
    assert text.index("Litter Basket Request") < text.index("Rodent")  # most frequent first


@pytest.mark.parametrize(("username", "status"), [(None, 401), ("officer", 403)])
def test_only_admins_see_unmapped_codes(admin_ctx, web_client, username, status):  # noqa: F811
    if username:
        client_login(web_client, username)
    assert web_client.post("/_dash-update-component", json=BODY).status_code == status
