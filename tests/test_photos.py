"""Photos from the phone: only real images by their bytes, a size limit, content-addressed names, scoped serving."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from ops_center.store.photos import MAX_PHOTOS, PhotoRejected, PhotoStore, decode_upload, image_kind
from ops_center.store.store import to_db
from tests.factories import make_incident
from tests.fixtures_web import client_login

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 200 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 100
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def photos(tmp_path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos", max_bytes=4096)


@pytest.mark.parametrize(("data", "kind"), [(JPEG, "jpg"), (PNG, "png"), (WEBP, "webp"), (b"GIF89a....", None),
                                            (b"<html><script>", None), (b"RIFF\x00\x00\x00\x00WAVE", None)])
def test_kind_is_read_from_the_bytes(data, kind):
    assert image_kind(data) == kind


def test_saved_once_per_content_under_its_hash(photos):
    first = photos.save(JPEG, "IMG_0001.jpg", "image/jpeg")
    again = photos.save(JPEG, "another-name.jpeg", "image/jpeg")
    assert first == again and first.endswith(".jpg") and len(first) == 64 + 4
    assert photos.path_of(first).read_bytes() == JPEG
    assert [p.name for p in photos.folder.iterdir()] == [first]  # no temporary file left behind
    assert photos.read(first) == (JPEG, "image/jpeg")


def test_a_forged_content_type_is_refused_and_nothing_stored(photos):
    with pytest.raises(PhotoRejected, match="不是 JPEG、PNG 或 WebP 图片") as err:
        photos.save(b"<svg onload=alert(1)></svg>", "cat.jpg", "image/jpeg")
    assert "cat.jpg" in err.value.user_message
    with pytest.raises(PhotoRejected, match="声明为 image/png，内容却是 image/jpeg"):
        photos.save(JPEG, "x.png", "image/png")
    assert not photos.folder.exists()


def test_an_oversized_photo_is_refused_with_the_limit(photos):
    big = JPEG + b"\x00" * 5000
    with pytest.raises(PhotoRejected, match=r"超过上限 0\.0 MB"):
        photos.save(big, "big.jpg", "image/jpeg")
    assert not photos.folder.exists()


def test_an_empty_file_is_refused(photos):
    with pytest.raises(PhotoRejected, match="空文件"):
        photos.save(b"", "empty.jpg")


def test_path_traversal_in_the_name_never_reaches_the_disk(photos, tmp_path):
    photo_id = photos.save(PNG, "../../../etc/passwd.png", "image/png")
    assert photos.path_of(photo_id).parent == photos.folder
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [photo_id]
    for bad in ("../photos/" + photo_id, "/etc/passwd", photo_id.replace(".png", ".svg"), "..", "a" * 64 + ".jpg/"):
        with pytest.raises(ValueError):
            photos.path_of(bad)


def test_uploads_are_all_or_nothing(photos):
    ok = data_url(JPEG)
    bad = data_url(b"MZ\x90\x00 not an image", "image/jpeg")
    with pytest.raises(PhotoRejected, match="“evil.jpg”不是 JPEG"):
        photos.save_uploads([ok, bad], ["good.jpg", "C:\\Users\\x\\evil.jpg"])
    assert not photos.folder.exists()  # the good one was not written either
    assert photos.save_uploads([ok, data_url(WEBP, "image/webp")], ["a.jpg", "b.webp"])[1].endswith(".webp")
    with pytest.raises(PhotoRejected, match=f"最多上传 {MAX_PHOTOS} 张"):
        photos.save_uploads([ok] * (MAX_PHOTOS + 1))


@pytest.mark.parametrize("contents", ["", "hello", "data:image/jpeg,notbase64", "data:image/jpeg;base64,@@@"])
def test_an_unreadable_upload_is_refused(contents):
    with pytest.raises(PhotoRejected):
        decode_upload(contents)


# --- the authenticated route ---------------------------------------------------------------


def _link_photo_to(store, incident_id: int, photo_id: str, now) -> None:
    """A grid report event of the incident naming the photo, as the pipeline writes it."""
    def write(conn):
        conn.execute(
            "INSERT INTO events (event_id, source, source_id, natural_key, key_hash, occurred_at, received_at, text, "
            "area_code, fields, incident_id) VALUES (?, 'grid', 'mqtt_grid', ?, ?, ?, ?, '井盖破损', ?, ?, ?)",
            [900000 + incident_id, f"r{incident_id}", 77 + incident_id, to_db(now), to_db(now), "510108002",
             json.dumps({"photos": [photo_id]}), incident_id])
    store.write(write)


def test_the_route_serves_only_inside_the_viewers_scope(web_ctx, web_client):
    from ops_center.web.photo_route import photo_store, photo_url

    now = web_ctx.clock()
    inside = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=3), area_code="510108002")
    outside = make_incident(web_ctx.store, web_ctx.cfg, now=now - timedelta(minutes=3), area_code="510108004")
    store = photo_store(web_ctx)
    assert store.folder == web_ctx.store.path.resolve().parent / "photos"
    photo_id = store.save(JPEG, "p.jpg", "image/jpeg")
    other_id = store.save(PNG, "q.png", "image/png")
    _link_photo_to(web_ctx.store, inside, photo_id, now)
    _link_photo_to(web_ctx.store, outside, other_id, now)

    assert web_client.get(photo_url(inside, photo_id)).status_code in (302, 401)  # not logged in
    client_login(web_client, "officer_mzw")  # 猛追湾 only
    resp = web_client.get(photo_url(inside, photo_id))
    assert resp.status_code == 200 and resp.data == JPEG and resp.mimetype == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert web_client.get(photo_url(outside, other_id)).status_code == 404  # another street's incident
    assert web_client.get(photo_url(inside, other_id)).status_code == 404  # a photo the incident does not carry
    escaped = web_client.get(f"/photos/{inside}/..%2F..%2Fweb_secret_key")  # not our route: Dash's page shell
    assert escaped.mimetype == "text/html" and b"DashRenderer" in escaped.data
    assert web_client.get(f"/photos/{inside}/..").status_code == 404
    assert web_client.get(f"/photos/{inside}/{photo_id[:-4]}.svg").status_code == 404
