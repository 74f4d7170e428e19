"""``api/files/<id>/comments/``: notes on a file by those who may see it."""

from __future__ import annotations

from ..security import get_visible_file, require_can_delete_comment, require_user
from ..store import Comment, NotFound
from ..store import activity as store_activity
from .base import GSPHandler
from .schemas import CommentCreate, EmptyQuery


def comment_record(comment: Comment) -> dict:
    return {
        "id": comment.id,
        "file_id": comment.file_id,
        "user": comment.user.username if comment.user is not None else None,
        "text": comment.text,
        "created_at": comment.created_at.isoformat(),
    }


class CommentListHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")

        def work(session, caller):
            file = get_visible_file(session, caller, fid)
            return {
                "results": [comment_record(c) for c in store_activity.comments_on(session, file.id)]
            }

        self.reply(await self.db(work))

    async def post(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        body = self.body(CommentCreate)

        def work(session, caller):
            file = get_visible_file(session, caller, fid)
            user = require_user(caller)
            comment = store_activity.add_comment(session, file, user, body.text)
            session.refresh(comment)
            store_activity.log_event(
                session,
                f"{user.username} commented on {file.file_name}",
                event="comment.added",
                file=file,
                user=user,
            )
            return comment_record(comment)

        self.reply(await self.db(work, write=True), status=201)


class CommentDetailHandler(GSPHandler):
    async def delete(self, file_id: str, comment_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        cid = self.int_arg(comment_id, "comment id")

        def work(session, caller):
            get_visible_file(session, caller, fid)
            comment = session.get(Comment, cid)
            if comment is None or comment.file_id != fid:
                raise NotFound(f"no comment {cid} on file {fid}")
            require_can_delete_comment(caller, comment)
            session.delete(comment)
            session.flush()

        await self.db(work, write=True)
        self.set_status(204)
        self.finish()
