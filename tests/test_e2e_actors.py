"""Who started an episode, end to end: the alert goes out first, then its timeline is edited to name the
person from Gcore's audit log; a key that may not read the log, or a log that hangs, costs nothing."""

from __future__ import annotations

import time

from tests.blockkit import all_text
from tests.bots import PROJECT
from tests.fakes.gcore import USER_ACTIONS_PATH
from tests.fakes.server import wait_for
from tests.test_e2e_watch import CHANNEL, WatchBot
from tests.test_e2e_watch import watcher as watcher  # the fixture: a watching bot in this process

ALICE = "update by alice@example.com"


def audit_requests(watcher: WatchBot) -> int:
    return sum(1 for r in watcher.gcore.requests if r.path == USER_ACTIONS_PATH)


def test_the_timeline_is_edited_to_name_who_started_the_episode(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.record_action(PROJECT, "my-instance", "update")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")

    (parent,) = watcher.wait_alerts(1)
    posted = time.monotonic()
    assert ALICE not in all_text(parent["blocks"])  # the alert did not wait for the lookup
    watcher.wait_edit(parent["ts"], ALICE)
    assert time.monotonic() - posted < 2.0

    # Later steps keep the name, and the audit log was asked once for the episode.
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    final = watcher.wait_edit(parent["ts"], "✅ rolled out")
    assert ALICE in all_text(final["blocks"])
    assert audit_requests(watcher) == 1


def test_a_key_that_may_not_read_the_audit_log_names_no_one_and_asks_once(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.fail_next(403, times=100, path=USER_ACTIONS_PATH)
    watcher.gcore.record_action(PROJECT, "my-instance", "update")
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")

    (parent,) = watcher.wait_alerts(1)
    wait_for(lambda: audit_requests(watcher) >= 1, timeout=5, message="the audit log asked")
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    final = watcher.wait_edit(parent["ts"], "✅ rolled out")
    assert " by " not in all_text(final["blocks"])
    assert audit_requests(watcher) == 1
    assert watcher.bot.log().count("may not read the audit log") == 1


def test_an_audit_log_that_hangs_never_holds_up_an_alert(watcher: WatchBot) -> None:
    watcher.watch()
    watcher.gcore.set_delay(30, path=USER_ACTIONS_PATH)
    watcher.gcore.record_action(PROJECT, "my-instance", "update")
    changed = time.monotonic()
    watcher.gcore.set_status(PROJECT, "my-instance", "DEPLOYING")

    (parent,) = watcher.wait_alerts(1)
    assert time.monotonic() - changed < 3.0
    wait_for(lambda: audit_requests(watcher) >= 1, timeout=5, message="the audit log asked")
    # The next step is delivered and edited in while the lookup still hangs.
    watcher.gcore.set_status(PROJECT, "my-instance", "ACTIVE")
    final = watcher.wait_edit(parent["ts"], "✅ rolled out")
    assert time.monotonic() - changed < 5.0
    assert " by " not in all_text(final["blocks"])
    assert len(watcher.alerts(CHANNEL)) == 1
