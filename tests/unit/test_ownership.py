"""Who may touch a Qdrant collection: the ownership record in its metadata decides."""

from __future__ import annotations

import pytest

from vectorops.operator.builders.collection_ownership import OWNER_KEY, Claim, Owner, claim, owner_in

ME = Owner("team-a", "docs", "uid-1")


@pytest.mark.parametrize(
    ("recorded", "managed_before", "adopt", "expected"),
    [
        (ME, False, False, Claim.OURS),
        (Owner("team-a", "docs", "uid-0"), False, False, Claim.RESTAMP),  # an earlier object of this name
        (Owner("team-b", "docs", "uid-9"), False, False, Claim.ELSEWHERE),  # same name, other namespace
        (Owner("team-b", "docs", "uid-9"), True, True, Claim.ELSEWHERE),  # never taken, whatever is asked
        (Owner("team-a", "other", "uid-9"), False, True, Claim.ELSEWHERE),
        (None, True, False, Claim.RESTAMP),  # ours by our own status: the record was lost
        (None, False, True, Claim.ADOPT),
        (None, False, False, Claim.UNOWNED),
    ],
)
def test_claim(recorded: Owner | None, managed_before: bool, adopt: bool, expected: Claim) -> None:
    assert claim(recorded, ME, managed_before, adopt) is expected


def test_record_round_trip_and_malformed_records() -> None:
    assert owner_in(ME.record()) == ME
    assert owner_in(None) is None
    assert owner_in({}) is None
    assert owner_in({OWNER_KEY: "team-a/docs"}) is None
    assert owner_in({OWNER_KEY: {"namespace": "team-a", "name": "docs"}}) is None  # no uid
    assert owner_in({OWNER_KEY: {"namespace": "team-a", "name": "docs", "uid": 7}}) is None
