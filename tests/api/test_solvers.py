"""On-demand solves of large option sets (investigational regimens with ctDNA or re-biopsy,
10-30 s each) queue on a solver thread of their own: an ordinary request is answered while one
of them is being solved. Ordering, not timing: the large solve waits until the ordinary answer
has come back, which can only happen if the two do not share a queue or a lock."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.solve.recommend import Recommender
from tests.api.conftest import KEY

BODY = {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1}
LARGE = {**BODY, "options": {"include_investigational": True, "ctdna_surveillance": True}}


def test_a_large_solve_does_not_hold_up_other_requests(settings, sources, monkeypatch):
    body = LARGE
    rec = Recommender(sources, draws=2)
    ordinary_answered, large_started = threading.Event(), threading.Event()
    seen = {}
    real = Recommender._compute

    def compute(self, query):
        if query.include_investigational:  # wait for the ordinary answer
            large_started.set()
            seen["waited"] = ordinary_answered.wait(timeout=60)
            return real(self, query.__class__(query.state, query.objective))  # small stand-in
        return real(self, query)

    monkeypatch.setattr(Recommender, "_compute", compute)
    app = create_app(settings, sources=sources)
    app.state.recommender = rec
    with TestClient(app) as client:
        client.headers["X-API-Key"] = KEY
        large = {}
        worker = threading.Thread(
            target=lambda: large.setdefault("r", client.post("/v1/recommendations", json=body)))
        worker.start()
        assert large_started.wait(timeout=60)  # the large solve is running from here on
        ordinary = client.post("/v1/recommendations", json=BODY)
        ordinary_answered.set()
        worker.join(timeout=120)
    assert ordinary.status_code == 200, ordinary.text
    assert large["r"].status_code == 200, large["r"].text
    assert seen == {"waited": True}  # the large solve was still running when the other returned
