"""The access rules of DESIGN.md §5, written once.

One :class:`AccessPolicy` per caller (and session) yields, for every kind of object,
the SQL condition a listing filters with (:meth:`AccessPolicy.files`,
:meth:`~AccessPolicy.jobs`, :meth:`~AccessPolicy.logs`, :meth:`~AccessPolicy.comments`,
:meth:`~AccessPolicy.proposals`, :meth:`~AccessPolicy.settings`), and the yes/no
answer for one object, which is that same condition evaluated on the object's row
(:meth:`AccessPolicy.visible`). A listing and a get-by-id therefore cannot disagree:
there is no second copy of a rule to drift.

Rules beyond seeing (who deletes, acts on, edits, manages) are the ``may_*`` methods,
each a plain function of the caller and the object, next to the visibility they
build on. The job engine asks :meth:`AccessPolicy.calibrations_for` which frames may
calibrate a proposal's data.

Rules (DESIGN.md §5):

- nobody but an active account sees anything; staff see everything;
- files: master calibrations (data_type 1) are seen by every account, other files by
  members (PI or collaborator) of their proposal; deleted files by staff only. A master
  made from one proposal's frame (a sensitivity function from its standard star, which
  names the star and the frame) is that proposal's, like the frame;
- jobs: whoever asked for it, members of its proposal, and whoever sees its file
  (unless that file is a shared master calibration);
- log entries: those of the caller's proposals and the caller's own;
- comments: those on files the caller sees;
- proposals and their reduction settings: members.
"""

from __future__ import annotations

import enum
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from ..store import Comment, File, Job, LogEntry, Proposal, ReductionSettings, User
from ..store import proposals as store_proposals

#: data_type codes the rules name (DESIGN.md §4).
RAW, MASTER = 0, 1


def _shared_master(table: Any) -> ColumnElement[bool]:
    """A master calibration every account sees: combined from a night's frames (its own
    original), not made from one proposal's frame (a sensitivity master's original is
    the standard's raw frame)."""
    return and_(
        table.c.data_type == MASTER,
        or_(table.c.original_file_id.is_(None), table.c.original_file_id == table.c.id),
    )


class FileVisibility(enum.Enum):
    """The shape of :meth:`AccessPolicy.files` once a listing's filters are known.

    A listing narrowed by data_type or proposal needs a simpler condition than the
    general rule; these shapes let the listing's statement be built once per shape
    (see :func:`gsp_extension.api.queries.list_files`) with the caller's proposals as
    a bound parameter. Each is the rule itself, simplified (a test holds them equal).
    """

    ALL = "all"
    NOTHING = "nothing"
    MASTERS = "masters"
    MINE = "mine"
    MASTERS_OR_MINE = "masters or mine"

    def condition(self, table: Any, mine: Any) -> ColumnElement[bool] | None:
        """The SQL condition on ``table`` (``File.__table__`` or an alias); ``mine`` is
        the caller's SOAR ids (a list or an expanding bound parameter); ``None`` for
        :attr:`ALL`."""
        if self is FileVisibility.ALL:
            return None
        if self is FileVisibility.NOTHING:
            return false()
        if self is FileVisibility.MASTERS:
            return _shared_master(table)
        if self is FileVisibility.MINE:
            return table.c.proposal_id.in_(mine)
        return or_(_shared_master(table), table.c.proposal_id.in_(mine))


class AccessPolicy:
    """What one caller may see and do, as SQL conditions and yes/no answers.

    Parameters
    ----------
    session : Session or None
        Used to resolve the caller's proposals (once) and to check single rows; the
        SQL conditions alone can be had without one.
    caller : Caller
        The request's caller (:class:`gsp_extension.security.Caller`); its
        ``proposal_ids``, when the caller cache resolved them, spare a query.
    """

    def __init__(self, session: Session, caller: Any) -> None:
        self.session = session
        self.caller = caller

    # --- who the caller is ----------------------------------------------------------------

    @property
    def user(self) -> User | None:
        """The caller's active account, or ``None`` (services, deactivated accounts)."""
        user = self.caller.user
        return user if user is not None and user.is_active else None

    @property
    def is_staff(self) -> bool:
        """An active staff account (:attr:`Caller.is_staff`, the one definition)."""
        return bool(self.caller.is_staff)

    @cached_property
    def member_soar_ids(self) -> frozenset[str]:
        """SOAR ids of the proposals the caller is PI or collaborator of."""
        if self.user is None:
            return frozenset()
        if self.caller.proposal_ids is not None:
            return frozenset(self.caller.proposal_ids)
        return frozenset(self.session.scalars(store_proposals.member_soar_ids(self.user.id)))

    def _mine(self) -> Any:
        """The caller's SOAR ids for an ``IN``: a list once known, else a sub-query (a
        policy made without a session, for a statement built ahead of execution)."""
        if self.caller.proposal_ids is not None or self.session is not None:
            return sorted(self.member_soar_ids)
        return store_proposals.member_soar_ids(self.user.id)

    def is_member(self, soar_id: str | None) -> bool:
        """Whether the caller belongs to the proposal with this SOAR id."""
        return soar_id is not None and soar_id in self.member_soar_ids

    # --- what the caller sees: one SQL condition per kind of object ---------------------------

    def files(self) -> ColumnElement[bool]:
        """Condition on ``File``: the caller may see the row."""
        if self.user is None:
            return false()
        if self.is_staff:
            return true()
        return and_(
            File.deleted_at.is_(None),
            or_(_shared_master(File.__table__), File.proposal_id.in_(self._mine())),
        )

    def file_listing(
        self, data_type: int | None, proposal_id: str | None
    ) -> tuple[FileVisibility, list[str]]:
        """:meth:`files` for a listing of current, undeleted files with these filters,
        as a :class:`FileVisibility` shape and the caller's SOAR ids it needs."""
        if self.user is None:
            return FileVisibility.NOTHING, []
        if self.is_staff:
            return FileVisibility.ALL, []
        mine = sorted(self.member_soar_ids)
        if proposal_id is not None:
            return (FileVisibility.ALL if proposal_id in mine else FileVisibility.MASTERS), []
        if data_type == MASTER:
            return (FileVisibility.MASTERS_OR_MINE, mine) if mine else (FileVisibility.MASTERS, [])
        if data_type is not None:
            return (FileVisibility.MINE, mine) if mine else (FileVisibility.NOTHING, [])
        if not mine:
            return FileVisibility.MASTERS, []
        return FileVisibility.MASTERS_OR_MINE, mine

    def jobs(self) -> ColumnElement[bool]:
        """Condition on ``Job``: asked for by the caller, of one of their proposals, or
        on a file they see (a shared master calibration does not count)."""
        if self.user is None:
            return false()
        if self.is_staff:
            return true()
        # EXISTS by the job's file id: one primary-key probe per job, however many
        # files the caller sees.
        on_a_seen_file = exists().where(
            File.id == Job.file_id, self.files(), File.data_type != MASTER
        )
        return or_(
            Job.requested_by_id == self.user.id,
            Job.proposal_id.in_(store_proposals.member_proposal_ids(self.user.id)),
            on_a_seen_file,
        )

    def logs(self) -> ColumnElement[bool]:
        """Condition on ``LogEntry``: the caller's proposals' entries and their own."""
        if self.user is None:
            return false()
        if self.is_staff:
            return true()
        return or_(
            LogEntry.proposal_id.in_(store_proposals.member_proposal_ids(self.user.id)),
            LogEntry.user_id == self.user.id,
        )

    def comments(self) -> ColumnElement[bool]:
        """Condition on ``Comment``: comments on files the caller sees."""
        if self.user is None:
            return false()
        return exists().where(File.id == Comment.file_id, self.files())

    def proposals(self) -> ColumnElement[bool]:
        """Condition on ``Proposal``: the caller belongs to it (staff: all)."""
        if self.user is None:
            return false()
        if self.is_staff:
            return true()
        return Proposal.id.in_(store_proposals.member_proposal_ids(self.user.id))

    def settings(self) -> ColumnElement[bool]:
        """Condition on ``ReductionSettings``: settings of proposals the caller sees."""
        return ReductionSettings.proposal_id.in_(select(Proposal.id).where(self.proposals()))

    def condition(self, model: type) -> ColumnElement[bool]:
        """The visibility condition of a model class (``File``, ``Job``...)."""
        return self._CONDITIONS[model](self)

    _CONDITIONS = {
        File: files,
        Job: jobs,
        LogEntry: logs,
        Comment: comments,
        Proposal: proposals,
        ReductionSettings: settings,
    }

    # --- one object: the same conditions, evaluated on its row ---------------------------

    def get(self, model: type, row_id: int) -> Any | None:
        """The row of ``model`` with this id if the caller sees it, else ``None``."""
        return self.session.scalar(select(model).where(model.id == row_id, self.condition(model)))

    def visible(self, row: Any) -> bool:
        """Whether the caller sees this row (its model's condition, on its id)."""
        model = type(row)
        found = self.session.scalar(
            select(model.id).where(model.id == row.id, self.condition(model))
        )
        return found is not None

    # --- what the caller may do ----------------------------------------------------------

    def may_delete_file(self, file: File) -> bool:
        """Raw files: nobody. Masters: staff. Other products: their proposal's members."""
        if file.data_type == RAW or self.user is None:
            return False
        if self.is_staff:
            return True
        return file.data_type != MASTER and self.is_member(file.proposal_id)

    def may_act_on_file(self, file: File) -> bool:
        """Actions (reduce, extract, calibrate...): staff, and members of the file's
        proposal; masters are shared, so only staff act on them."""
        if self.is_staff:
            return True
        return file.data_type != MASTER and self.is_member(file.proposal_id)

    def may_build_calibrations(self, night: Any) -> bool:
        """Masters of a night: staff, and members of a proposal observed that night."""
        if self.is_staff:
            return True
        if self.user is None or not self.member_soar_ids:
            return False
        observed = select(File.id).where(
            File.date == night,
            File.data_type == RAW,
            File.proposal_id.in_(sorted(self.member_soar_ids)),
        )
        return self.session.scalar(observed.limit(1)) is not None

    def may_register_files(self) -> bool:
        """Staff and the instrument register raw files."""
        return self.is_staff or bool(self.caller.instrument)

    def may_manage(self, proposal: Proposal) -> bool:
        """Add or remove collaborators, edit reduction settings: the PI and staff."""
        return self.user is not None and (self.is_staff or proposal.pi_id == self.user.id)

    def may_delete_comment(self, comment: Comment) -> bool:
        """The author and staff delete a comment."""
        return self.user is not None and (self.is_staff or comment.user_id == self.user.id)

    # --- calibration frames a proposal's data may use ---------------------------------------

    @staticmethod
    def calibrations_for(soar_id: str | None) -> ColumnElement[bool]:
        """Condition on ``File``: frames that may calibrate data of proposal ``soar_id``.

        Master calibrations serve every proposal; other frames (arcs) only their own
        proposal's data, or anyone's when no proposal owns them (calibrations taken by
        staff), so that no product, header or chooser shows another proposal's file
        names or objects.
        """
        own = File.proposal_id.is_(None)
        if soar_id is not None:
            own = or_(own, File.proposal_id == soar_id)
        return or_(File.data_type == MASTER, own)

    @staticmethod
    def standards_for(soar_id: str | None) -> ColumnElement[bool]:
        """Condition on ``File``: standards (and their sensitivity masters) that may
        flux-calibrate data of proposal ``soar_id``.

        The arcs' rule of :meth:`calibrations_for` without its exception for masters: a
        sensitivity is made from one proposal's star, so it serves that proposal, or
        anyone when no proposal owns the standard (taken by staff).
        """
        own = File.proposal_id.is_(None)
        if soar_id is not None:
            own = or_(own, File.proposal_id == soar_id)
        return own
