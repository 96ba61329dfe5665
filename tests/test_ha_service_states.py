"""
The HA service's less travelled states, end to end through the hook
library on an in-memory link (fixtures of tests/test_ha_service.py):
``state-machine`` pauses released by ``ha-continue``, and ``terminated``
when the partner's clock is more than 60 s off (spec/ha.md: Kea's
communication_state.cc clock-skew rule).
"""

from __future__ import annotations

from email.utils import formatdate

from tests.test_ha_service import PairTestCase


class PauseTests(PairTestCase):
    def test_pause_in_ready_until_ha_continue(self):
        """With ``pause: once`` on ready, each server stops in ready instead
        of moving on to load-balancing; ``ha-continue`` lets it go on."""
        pause = {"state-machine": {"states": [{"state": "ready", "pause": "once"}]}}
        n1, n2 = self.pair(**pause)
        self.run_until(lambda: n1.state == "ready" and n1.service.machine.paused)
        self.advance(5)
        self.assertEqual(n1.state, "ready")
        answer = n1.command("ha-continue")
        self.assertEqual(answer, {"result": 0, "text": "HA state machine continues."})
        self.run_until(lambda: n2.state == "ready" and n2.service.machine.paused)
        self.assertEqual(n2.command("ha-continue")["text"], "HA state machine continues.")
        self.run_until(lambda: n1.state == "load-balancing" and n2.state == "load-balancing")
        self.assertEqual(n1.command("ha-continue"),
                         {"result": 0, "text": "HA state machine is not paused."})


class ClockSkewTests(PairTestCase):
    def test_partner_clock_far_off_terminates(self):
        """A heartbeat answer whose date-time is more than 60 s off puts the
        server in terminated, where it stops load-balancing."""
        n1, n2 = self.balanced()
        skewed = formatdate(self.clock.seconds() - 120, usegmt=True)
        self.link.errors[("server2", "ha-heartbeat")] = {
            "arguments": {"date-time": skewed, "scopes": ["server2"], "state": "load-balancing",
                          "unsent-update-count": 0},
            "result": 0, "text": "HA peer status returned."}
        self.run_until(lambda: n1.state == "terminated", limit=30)
        self.advance(5)
        self.assertEqual(n1.state, "terminated")
