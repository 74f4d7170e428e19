"""``GET api/files/<id>/download/``: the FITS file, streamed, as an attachment."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from tornado.iostream import StreamClosedError

from ..security import get_visible_file
from ..store.versions import current_version
from .base import GSPHandler
from .paths import resolve_under_root
from .schemas import EmptyQuery

CHUNK = 1 << 20


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


class DownloadHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")

        def work(session, caller):
            file = get_visible_file(session, caller, fid)
            current = current_version(session, file)
            if current is not None and current.id != file.id:
                return current.id
            return file.file_name, file.full_path

        answer = await self.db(work)
        if isinstance(answer, int):
            self.redirect_to_version(answer)
            return
        name, full_path = answer
        path = resolve_under_root(self.ctx.data_root, full_path, what=f"file {fid}")
        loop = asyncio.get_running_loop()
        fh = await loop.run_in_executor(None, open, path, "rb")
        try:
            size = await loop.run_in_executor(None, lambda: path.stat().st_size)
            self.set_header("Content-Type", "application/fits")
            self.set_header("Content-Length", str(size))
            self.set_header("Content-Disposition", content_disposition(name))
            while True:
                chunk = await loop.run_in_executor(None, fh.read, CHUNK)
                if not chunk:
                    break
                self.write(chunk)
                try:
                    await self.flush()
                except StreamClosedError:
                    return
        finally:
            fh.close()
        self.finish(set_content_type="application/fits")
