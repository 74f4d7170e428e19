"""Who may see, change or run what: the access rules of DESIGN.md §5, in one place.

Handlers never decide access themselves: they ask this package, which raises
:class:`~gsp_extension.store.NotFound` (existence must not leak: another proposal's file
is "not found") or :class:`~gsp_extension.store.PermissionDenied` (the caller may see
the object but not do this) with a message saying why. The rules are written once, in
:class:`~gsp_extension.security.access.AccessPolicy`, which gives both the SQL filter of
every listing and the check of one object; they are built on the store's membership
functions, and every check reads the app database (the truth), never the groups the hub
cached in the caller's token model.
"""

from .access import AccessPolicy, FileVisibility
from .callers import CallerCache
from .policy import (
    Caller,
    can_delete_file,
    get_visible_file,
    get_visible_job,
    get_visible_proposal,
    log_clause,
    require_can_act_on_file,
    require_can_delete_comment,
    require_can_delete_file,
    require_can_edit_settings,
    require_can_manage_collaborators,
    require_can_register_files,
    require_staff,
    require_user,
    resolve_caller,
)

__all__ = [
    "AccessPolicy",
    "Caller",
    "FileVisibility",
    "CallerCache",
    "can_delete_file",
    "get_visible_file",
    "get_visible_job",
    "get_visible_proposal",
    "log_clause",
    "require_can_act_on_file",
    "require_can_delete_comment",
    "require_can_delete_file",
    "require_can_edit_settings",
    "require_can_manage_collaborators",
    "require_can_register_files",
    "require_staff",
    "require_user",
    "resolve_caller",
]
