"""``api/files/``: list with filters and pages, detail, register, delete products."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from ..security import (
    get_visible_file,
    require_can_delete_file,
    require_can_register_files,
)
from ..store import File, NotFound
from ..store import files as store_files
from ..store import versions as store_versions
from ..store.activity import log_event
from ..store.serialize import file_record
from .base import APIError, GSPHandler
from .paths import require_raw_under_raw, resolve_under_root
from .queries import files_by_ids, list_files
from .registration import read_registration_fields
from .schemas import (
    DeletedFiles,
    EmptyQuery,
    FileDeletion,
    FileListQuery,
    FileRegistration,
    FileVersion,
    FileVersions,
)


class FileListHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(FileListQuery)
        ctx = self.ctx
        size = self.page_size(q.page_size)

        def work(session, caller):
            page = list_files(
                session,
                caller,
                q,
                page_size=size,
                bound=ctx.count_bound,
                tz=ctx.tz,
                counts=ctx.counts,
            )
            return self.page_answer(page, q.page, page.rows)

        # The page and its (bounded, cached) count need no common snapshot.
        self.reply(await self.db(work, snapshot=False))

    async def post(self) -> None:
        """Register a file already on disk under the data root."""
        self.query(EmptyQuery)
        body = self.body(FileRegistration)
        ctx = self.ctx
        await self.db(lambda s, caller: require_can_register_files(caller))
        path = resolve_under_root(ctx.data_root, body.full_path, what="full_path")

        def read():
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            return digest.hexdigest(), path.stat().st_size, read_registration_fields(path)

        (
            checksum,
            size,
            (fields, header, data_type),
        ) = await asyncio.get_running_loop().run_in_executor(None, read)
        require_raw_under_raw(ctx.data_root, path, data_type)

        def work(session, caller):
            require_can_register_files(caller)
            reg = store_files.register_file(
                session,
                str(path),
                checksum=checksum,
                size=size,
                fields=fields,
                header=header,
                data_type=data_type,
            )
            if reg.created:
                log_event(
                    session,
                    f"{reg.file.file_name} registered by {caller.name}",
                    event="file.registered",
                    file=reg.file,
                    user=caller.user,
                )
            return {
                "detail": "registered" if reg.created else "already registered (same content)",
                "created": reg.created,
                "file": file_record(session, reg.file, tz=ctx.tz),
            }

        result = await self.db(work, write=True)
        self.reply(result, status=201 if result["created"] else 200)

    async def delete(self) -> None:
        """Delete several products at once: all are deletable, or nothing happens."""
        self.query(EmptyQuery)
        body = self.body(FileDeletion)
        ids = sorted(set(body.ids))
        removed = await self.db(lambda s, c: _delete(s, c, ids), write=True)
        _unlink(self, removed)
        self.reply(DeletedFiles(detail=f"deleted {len(ids)} file(s)", deleted=ids))


class FileDetailHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        tz = self.ctx.tz

        def work(session, caller):
            file = get_visible_file(session, caller, fid)
            current = store_versions.current_version(session, file)
            if current is not None and current.id != file.id:
                return current.id
            return file_record(session, file, tz=tz)

        answer = await self.db(work)
        if isinstance(answer, int):
            self.redirect_to_version(answer)
        else:
            self.reply(answer)

    async def delete(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        removed = await self.db(lambda s, c: _delete(s, c, [fid]), write=True)
        _unlink(self, removed)
        self.reply(DeletedFiles(detail="deleted 1 file(s)", deleted=[fid]))


class FileVersionsHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")

        def work(session, caller):
            rows = store_versions.versions_of(session, get_visible_file(session, caller, fid))
            current = next((r.id for r in reversed(rows) if r.superseded_at is None), None)
            return FileVersions(
                count=len(rows),
                current=current,
                results=[
                    FileVersion(
                        id=r.id,
                        file_name=r.file_name,
                        version=r.version,
                        created=r.created,
                        superseded_at=r.superseded_at,
                        current=r.superseded_at is None,
                    )
                    for r in rows
                ],
            )

        self.reply(await self.db(work))


def _delete(session, caller, ids: list[int]) -> list[str]:
    """Mark products deleted after checking every one; returns their paths."""
    rows = {f.id: f for f in files_by_ids(session, ids)}
    missing = [i for i in ids if i not in rows]
    files: list[File] = []
    for fid in ids:
        if fid in missing:
            continue
        try:
            files.append(get_visible_file(session, caller, fid))
        except NotFound:
            missing.append(fid)
    if missing:
        raise NotFound(f"no files with ids {sorted(missing)} that you may see; nothing deleted")
    raw = [f for f in files if f.data_type == 0]
    if raw:
        raise APIError(
            403,
            f"raw data cannot be deleted: file(s) {[f.id for f in raw]} are raw; nothing deleted",
        )
    for f in files:
        require_can_delete_file(session, caller, f)
    for f in files:
        store_files.mark_deleted(session, f)
        log_event(
            session,
            f"{f.file_name} deleted by {caller.name}",
            event="file.deleted",
            file=f,
            user=caller.user,
        )
    return [f.full_path for f in files]


def _unlink(handler: GSPHandler, paths: list[str]) -> None:
    """Remove deleted products from disk (only under the data root; raw never)."""
    root = handler.ctx.data_root
    for p in paths:
        path = Path(p)
        try:
            resolved = path.resolve()
            resolved.relative_to(root)
        except (OSError, ValueError):
            handler.log.warning("gsp: not removing %s: outside the data root %s", p, root)
            continue
        if (root / "raw") in resolved.parents:
            handler.log.warning("gsp: not removing %s: under raw/", p)
            continue
        try:
            resolved.unlink(missing_ok=True)
        except OSError as exc:
            handler.log.warning("gsp: could not remove %s: %s", p, exc)
