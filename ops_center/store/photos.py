"""Photos from the phone kept as files beside the store, named by their content, so a name can never reach outside."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

# Real image formats by their first bytes: the browser's content type and the file name are the sender's claim.
IMAGE_KINDS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
PHOTO_ID = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp)$")
DATA_URL = re.compile(r"^data:([^;,]*)(;[^,]*)?,", re.ASCII)
FOLDER_NAME = "photos"
MAX_PHOTOS = 9  # per report or feedback, as 12345 and 数字城管 apps allow


class PhotoRejected(ValueError):
    """An upload refused; `user_message` says why in the user's language, nothing was stored."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


def image_kind(data: bytes) -> str | None:
    """The file extension the bytes really are (jpg, png, webp), or None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_upload(contents: str) -> tuple[bytes, str | None]:
    """A dcc.Upload value ("data:<type>;base64,<data>") as (bytes, the declared type)."""
    match = DATA_URL.match(contents or "")
    if not match or ";base64" not in (match.group(2) or ""):
        raise PhotoRejected("上传内容无法识别，请重新选择照片")
    try:
        data = base64.b64decode(contents[match.end():], validate=True)
    except (binascii.Error, ValueError):
        raise PhotoRejected("上传内容已损坏，请重新选择照片") from None
    return data, (match.group(1) or None)


@dataclass(frozen=True)
class PhotoStore:
    """Content-addressed photo files in one folder; ids are `<sha256>.<ext>`, checked before any path is built."""

    folder: Path
    max_bytes: int

    @classmethod
    def beside(cls, store_path: Path | str, max_bytes: int) -> PhotoStore:
        """The photo folder of a store file: `photos/` in the store's own folder."""
        return cls(Path(store_path).resolve().parent / FOLDER_NAME, max_bytes)

    def check(self, data: bytes, name: str | None = None, declared_type: str | None = None) -> str:
        """The extension of an acceptable photo; PhotoRejected (Chinese, naming the file) for anything else."""
        label = f"“{_display_name(name)}”" if name else "照片"
        if not data:
            raise PhotoRejected(f"{label}是空文件")
        if len(data) > self.max_bytes:
            raise PhotoRejected(f"{label}有 {_mb(len(data))}，超过上限 {_mb(self.max_bytes)}，请压缩后再传")
        kind = image_kind(data)
        if kind is None:
            raise PhotoRejected(f"{label}不是 JPEG、PNG 或 WebP 图片，未保存")
        if declared_type and declared_type.lower() not in (IMAGE_KINDS[kind], "image/jpg", "application/octet-stream"):
            if not (kind == "jpg" and declared_type.lower() == "image/pjpeg"):
                raise PhotoRejected(f"{label}声明为 {declared_type}，内容却是 {IMAGE_KINDS[kind]}，未保存")
        return kind

    def save(self, data: bytes, name: str | None = None, declared_type: str | None = None) -> str:
        """Store one photo (once per content) and return its id; nothing is written when it is refused."""
        kind = self.check(data, name, declared_type)
        photo_id = f"{hashlib.sha256(data).hexdigest()}.{kind}"
        target = self.folder / photo_id
        if target.exists():
            return photo_id
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{photo_id}.{os.getpid()}.part"
        partial.write_bytes(data)
        os.replace(partial, target)  # readers never see half a file
        return photo_id

    def save_uploads(self, contents: list[str], names: list[str] | None = None) -> list[str]:
        """All of a dcc.Upload's files or none: every file is checked before the first is written."""
        contents = list(contents or [])
        names = list(names or [None] * len(contents))  # type: ignore[list-item]
        if len(contents) > MAX_PHOTOS:
            raise PhotoRejected(f"一次最多上传 {MAX_PHOTOS} 张照片，当前 {len(contents)} 张")
        decoded = []
        for content, name in zip(contents, names, strict=False):
            try:
                data, declared = decode_upload(content)
            except PhotoRejected as exc:
                raise PhotoRejected(f"“{_display_name(name)}”：{exc.user_message}" if name else exc.user_message) from None
            self.check(data, name, declared)
            decoded.append((data, name, declared))
        return [self.save(data, name, declared) for data, name, declared in decoded]

    def path_of(self, photo_id: str) -> Path:
        """The file of a well-formed id; ValueError for anything else (a path, `..`, another extension)."""
        if not isinstance(photo_id, str) or not PHOTO_ID.match(photo_id):
            raise ValueError(f"not a photo id: {photo_id!r}")
        return self.folder / photo_id

    def read(self, photo_id: str) -> tuple[bytes, str] | None:
        """(bytes, mimetype) of a stored photo, None when there is no such photo."""
        path = self.path_of(photo_id)
        if not path.is_file():
            return None
        return path.read_bytes(), IMAGE_KINDS[photo_id.rsplit(".", 1)[1]]


def is_photo_id(value: object) -> bool:
    return isinstance(value, str) and bool(PHOTO_ID.match(value))


def _display_name(name: str | None) -> str:
    """A file name as shown back to its sender: its last part, at most 40 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    return base[:40] or "照片"


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
