"""SOAR semesters and default SOAR ids: the domain's (:mod:`gsp_extension.store.semesters`),
named here for the hub's command line and demo."""

from gsp_extension.store.semesters import (
    check_semester,
    current_semester,
    next_soar_id,
    semester_of,
)

__all__ = ["check_semester", "current_semester", "next_soar_id", "semester_of"]
