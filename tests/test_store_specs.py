"""Specs and their changes between the domain's values and the table rows: round trips, and a state
stored before specs were kept (NULL) read as no spec at all, so its next poll invents no change."""

from __future__ import annotations

from bot.store.convert import changes_from, changes_json, state_spec_json, to_tracked
from bot.store.schema import DeploymentStateRow
from bot.watch.specs import Change
from bot.watch.transitions import Snapshot, Tracked
from tests.test_transitions import spec_snap


def row(tracked: Tracked) -> DeploymentStateRow:
    return DeploymentStateRow(
        project_id=1,
        name="my-instance",
        snapshot={"name": "my-instance", "status": tracked.snapshot.status},
        changes=[],
        stuck_alerted=False,
        problem=False,
        flapping=False,
        episode=0,
        episode_open=False,
        spec=state_spec_json(tracked),
    )


def test_a_state_keeps_its_spec_and_its_settled_spec() -> None:
    now, settled = spec_snap(image="nginx:1.27"), spec_snap()
    tracked = Tracked(snapshot=now, settled_spec=settled.spec)
    back = to_tracked(row(tracked))
    assert back.snapshot.spec == now.spec and back.settled_spec == settled.spec
    same = to_tracked(row(Tracked(snapshot=now, settled_spec=now.spec)))
    assert same.settled_spec == now.spec and "settled" not in (state_spec_json(same) or {})


def test_a_state_stored_before_specs_has_none() -> None:
    old = row(Tracked(snapshot=Snapshot(name="my-instance", status="ACTIVE")))
    assert old.spec is None
    back = to_tracked(old)
    assert back.snapshot.spec is None and back.settled_spec is None


def test_changes_round_trip_and_keep_no_value_of_a_secret_field() -> None:
    changes = (Change("image", "", "a:1", "a:2"), Change("env", "API_URL", how="added"))
    stored = changes_json(changes)
    assert stored == [
        {"field": "image", "old": "a:1", "new": "a:2", "how": "changed"},
        {"field": "env", "item": "API_URL", "how": "added"},
    ]
    assert changes_from(stored) == changes and changes_json(()) is None and changes_from(None) == ()
