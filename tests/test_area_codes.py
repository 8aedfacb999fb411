"""The one area-code helper: level, parent and prefixes from the code's length, also in SQL."""

import duckdb
import pytest

from ops_center.core import area_codes as ac

GRID = "510108002005001"


@pytest.mark.parametrize(("code", "level", "parent"), [
    ("510108", "district", None),
    ("510108002", "street", "510108"),
    ("510108002005", "community", "510108002"),
    (GRID, "grid", "510108002005"),
])
def test_level_and_parent_follow_the_length(code, level, parent):
    assert ac.is_area_code(code)
    assert ac.level_of(code) == level
    assert ac.parent_of(code) == parent


def test_ancestors_and_prefixes():
    assert ac.ancestors(GRID) == ["510108", "510108002", "510108002005"]
    assert ac.ancestors("510108002") == ["510108"] and ac.ancestors("510108") == []
    assert ac.street_of(GRID) == "510108002" and ac.street_of("510108002") == "510108002"
    assert ac.street_of("510108") is None
    assert ac.district_of(GRID) == "510108"
    assert ac.prefix(GRID, "community") == "510108002005" and ac.prefix("510108002", "community") is None


@pytest.mark.parametrize("bad", ["5101080", "", "51010800200500", "5101080020050011", "51010a"])
def test_anything_else_is_refused(bad):
    assert not ac.is_area_code(bad)
    with pytest.raises(ValueError, match="not an area code"):
        ac.ancestors(bad)
    with pytest.raises(ValueError, match="not an area code"):
        ac.parent_of(bad)


@pytest.mark.parametrize("level", list(ac.LEVEL_LENGTHS))
def test_the_sql_prefix_agrees_with_the_python_one(level):
    codes = ["510108", "510108002", "510108002005", GRID]
    con = duckdb.connect()
    rows = con.execute(f"SELECT {ac.sql_prefix('c', level)} FROM (SELECT unnest(?::VARCHAR[]) AS c)",  # noqa: S608
                       [codes]).fetchall()
    assert [r[0] for r in rows] == [ac.prefix(c, level) for c in codes]
