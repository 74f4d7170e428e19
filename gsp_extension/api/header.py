"""``GET api/files/header/?id=``: the primary header as keyword/value/comment rows."""

from __future__ import annotations

import asyncio

from ..security import get_visible_file
from ..store.files import header_to_json
from .base import APIError, GSPHandler
from .paths import resolve_under_root
from .schemas import FileIdQuery


class HeaderHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(FileIdQuery)
        ctx = self.ctx

        def work(session, caller):
            file = get_visible_file(session, caller, q.id)
            return file.id, file.file_name, file.full_path, file.header

        fid, name, full_path, cards = await self.db(work)
        if cards is None:
            path = resolve_under_root(ctx.data_root, full_path, what=f"file {fid}")
            cards = await asyncio.get_running_loop().run_in_executor(None, _read_cards, path)
        self.reply(
            {
                "id": fid,
                "file_name": name,
                "header": [{"keyword": k, "value": v, "comment": c} for k, v, c in cards],
            }
        )


def _read_cards(path) -> list[list]:
    from pipeline.classify import read_primary_header

    try:
        return header_to_json(read_primary_header(path))
    except (OSError, ValueError) as exc:
        raise APIError(409, f"{path.name}: the header cannot be read: {exc}") from None
