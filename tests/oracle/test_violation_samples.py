"""The violation log keeps every event of a kind among its samples: a full sample of the
first event's ``missing`` must not hide that another event's copies went missing too (a
1 %-drop run: the joins' ``user joined`` drops come first, the ``user left`` ones later)."""

from __future__ import annotations

from wsbench.oracle import Violation, ViolationKind
from wsbench.oracle.violations import ViolationLog

MISSING = ViolationKind.MISSING


def _missing(event: str, n: int) -> Violation:
    return Violation(MISSING, f"s{n}", 0, (n, "/"), "/", event, 1, "no copy", n)


def test_a_later_event_takes_the_place_of_the_most_shown_ones_latest_sample() -> None:
    log = ViolationLog(samples_per_kind=4)
    for n in range(6):
        log.add(_missing("user joined", n))
    log.add(_missing("user left", 6))
    log.add(_missing("user left", 7))  # shown already: the sample stays as it is
    log.add(Violation(ViolationKind.LEAK, "x", 0, (9, "/"), "/", "message", 1, "leak", 9))
    summary = log.summary()
    assert summary.counts == {"leak": 1, "missing": 8}
    missing = [(v.event, v.at_ns) for v in summary.samples if v.kind is MISSING]
    assert missing == [("user joined", 0), ("user joined", 1), ("user joined", 2),
                       ("user left", 6)]


def test_every_event_keeps_its_first_sample() -> None:
    log = ViolationLog(samples_per_kind=2)
    log.add(_missing("a", 0))
    log.add(_missing("b", 1))
    log.add(_missing("c", 2))  # a and b have one each: nothing to give up
    assert [v.event for v in log.summary().samples] == ["a", "b"]
