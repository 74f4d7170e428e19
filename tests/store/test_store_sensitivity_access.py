"""A sensitivity master (data_type 1 made from one proposal's standard star) is that
proposal's: it names the star and the frame, so other proposals neither see nor list it,
while masters combined from a night's frames stay visible to every account."""

from __future__ import annotations

from sqlalchemy import select
from store_helpers import digest

from gsp_extension.security import AccessPolicy, Caller
from gsp_extension.store.files import list_files_query, register_file
from gsp_extension.store.models import File, User

A = "SOAR2020B-008"


def _policy(session, name: str) -> AccessPolicy:
    user = session.scalar(select(User).where(User.username == name))
    return AccessPolicy(session, Caller(name=name, kind="user", user=user))


def test_a_sensitivity_master_is_its_standards_proposals(db, people):
    with db.transaction() as s:
        standard = register_file(
            s, "/raw/0007_LTT3218.fits", checksum=digest("std"), size=1, fields={"proposal_id": A}
        ).file
        sens = register_file(
            s,
            "/p/master_sens_400_m2_GG455_RED_2x2_20201126_ltt3218.fits",
            checksum=digest("sens"),
            size=1,
            data_type=1,
            parent=standard,
            fields={"proposal_id": A, "object": "LTT 3218"},
        ).file.id
        flat = register_file(
            s, "/p/master_flat.fits", checksum=digest("flat"), size=1, data_type=1
        ).file.id
    expected = {"pia": {sens, flat}, "cola": {sens, flat}, "staff": {sens, flat}}
    with db.session() as s:
        for name in ("pia", "cola", "pib", "outsider", "staff"):
            access = _policy(s, name)
            want = expected.get(name, {flat})
            masters = {
                f for f in s.scalars(select(File.id).where(access.files())) if f in (sens, flat)
            }
            assert masters == want, name
            assert access.visible(s.get(File, sens)) is (sens in want)
            # the listing's shapes agree with the rule, with and without filters
            for proposal_id in (None, A, "SOAR2021A-004"):
                query = list_files_query(s, data_type=1, proposal_id=proposal_id)
                shape, mine = access.file_listing(1, proposal_id)
                condition = shape.condition(File.__table__, mine)
                shaped = query if condition is None else query.where(condition)
                listed = {f.id for f in s.scalars(shaped)} & {sens, flat}
                general = {f.id for f in s.scalars(query.where(access.files()))} & {sens, flat}
                assert listed == general, (name, proposal_id, shape)
                assert listed == {
                    f for f in want if proposal_id in (None, s.get(File, f).proposal_id)
                }
