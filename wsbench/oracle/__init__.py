"""The delivery oracle: expected recipients of each stamped emit and verdicts as data.

Pure logic: no I/O, no asyncio, no clock (time is passed in, monotonic ns). The
scenario runner and the conformance gate's load tier feed it; see
:mod:`wsbench.oracle.delivery` for the theory of operation and
:mod:`wsbench.oracle.stamp` for the stamp carried in payloads;
:class:`Oracle` (:mod:`wsbench.oracle.interface`) is what a driver needs from an oracle.
"""

from __future__ import annotations

from wsbench.oracle.delivery import DeliveryOracle, Observation, Outcome, Semantics
from wsbench.oracle.fanout import FanoutBucket, FanoutRecord, FanoutStats, bucket_label
from wsbench.oracle.interface import MembershipUpdates, Oracle, ViolationSink
from wsbench.oracle.membership import Membership, SocketKey
from wsbench.oracle.stamp import (
    CARRIER_KEYS,
    STAMP_KEY,
    STRING_MARK,
    Stamp,
    embed_stamp,
    find_stamp,
)
from wsbench.oracle.verdict import AckSummary, LatencySummary, OracleVerdict
from wsbench.oracle.violations import Violation, ViolationKind, ViolationLog, ViolationSummary

__all__ = [
    "AckSummary",
    "CARRIER_KEYS",
    "DeliveryOracle",
    "FanoutBucket",
    "FanoutRecord",
    "FanoutStats",
    "LatencySummary",
    "Membership",
    "MembershipUpdates",
    "Observation",
    "Oracle",
    "OracleVerdict",
    "Outcome",
    "STAMP_KEY",
    "STRING_MARK",
    "Semantics",
    "SocketKey",
    "Stamp",
    "Violation",
    "ViolationKind",
    "ViolationLog",
    "ViolationSink",
    "ViolationSummary",
    "bucket_label",
    "embed_stamp",
    "find_stamp",
]
