"""What a driver needs from an oracle: the :class:`Oracle` protocol.

Theory of operation
-------------------
A driver (the asyncio one, a ``--processes`` child, the conformance load tier)
tells an oracle what happened and never asks it for a verdict while it runs: it
registers stamped emits and acks, reports deliveries, acks and violations it saw
itself, keeps the membership model current and, between events, lets the oracle
close what is due (``sweep``, ``next_deadline``, ``open_emits``). Two classes
implement that vocabulary:

* :class:`~wsbench.oracle.DeliveryOracle` judges in place (one process);
* ``wsbench.scenario.journal.RecordingOracle`` journals every call for a judge in
  another process, which replays the journals through ONE ``DeliveryOracle``.

:class:`Oracle` is that vocabulary as a :class:`typing.Protocol`, so the driver
types its oracle as ``Oracle`` and mypy checks that both implementations keep the
same signatures (``tests/oracle/test_interface.py`` checks it at run time too).
Return values of the observing verbs are ``object``: a judging oracle returns its
classification (:class:`~wsbench.oracle.Observation`), a recording one nothing,
and the driver uses neither. The verdict (:meth:`DeliveryOracle.verdict`) is not
part of the protocol: only a judging oracle has one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Protocol, runtime_checkable

from wsbench.oracle.semantics import Semantics
from wsbench.oracle.stamp import Stamp
from wsbench.oracle.violations import Violation

__all__ = ["Oracle", "MembershipUpdates", "ViolationSink"]


@runtime_checkable
class MembershipUpdates(Protocol):
    """The membership changes a driver reports, and the queries about its own sockets."""

    def connect_requested(self, client: Hashable, namespace: str, now_ns: int = 0) -> None: ...

    def connected(
        self, client: Hashable, namespace: str, sid: str, now_ns: int = 0, node: int | None = None
    ) -> None: ...

    def disconnected(
        self, client: Hashable, namespace: str | None = None, now_ns: int = 0
    ) -> None: ...

    def join_requested(
        self, client: Hashable, namespace: str, room: str, now_ns: int = 0
    ) -> None: ...

    def joined(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None: ...

    def left(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None: ...

    def cancel_pending(self, client: Hashable, namespace: str, room: str | None) -> None: ...

    def is_connected(self, client: Hashable, namespace: str) -> bool: ...

    def sid(self, client: Hashable, namespace: str) -> str | None: ...


@runtime_checkable
class ViolationSink(Protocol):
    """Where a driver's own findings go (a violation log, or a journal)."""

    @property
    def total(self) -> int: ...

    def add(self, violation: Violation, /, count: int = 1) -> None: ...


@runtime_checkable
class Oracle(Protocol):
    """The verbs a driver uses; see the module docstring."""

    @property
    def membership(self) -> MembershipUpdates: ...

    @property
    def violations(self) -> ViolationSink: ...

    @property
    def open_emits(self) -> int: ...

    def expect_emit(
        self,
        stamp: Stamp,
        sender: Hashable | None,
        namespace: str,
        semantics: Semantics,
        *,
        rooms: Iterable[str] = (),
        to: Hashable | None = None,
        at_ns: int | None = None,
        deadline_ns: int,
        volatile: bool = False,
        event: str = "",
        payload: Any = None,
    ) -> int: ...

    def observe_delivery(
        self, stamp: Stamp, receiver: Hashable, namespace: str, recv_ns: int, event: str = "",
        args: Any = None,
    ) -> object: ...

    def forbid(
        self,
        stamp_id: str,
        namespace: str,
        event: str,
        who: str,
        *,
        sender: Hashable | None = None,
        rooms: Iterable[str] = (),
        at_ns: int | None = None,
    ) -> int: ...

    def correlate(self, key: str, stamp: Stamp) -> None: ...

    def confirm_by_copy(
        self, stamp_id: str, client: Hashable, namespace: str, room: str, join: bool
    ) -> None: ...

    def observe_correlated(
        self, key: str, receiver: Hashable, namespace: str, recv_ns: int, event: str = "",
        args: Any = None,
    ) -> object: ...

    def retried(self, stamp_id: str, attempt: int) -> None: ...

    def outage_begin(self, at_ns: int) -> None: ...

    def outage_end(self, down_ns: int, back_ns: int, resubscribed_ns: int | None) -> None: ...

    def expect_ack(
        self,
        key: Hashable,
        client: Hashable,
        namespace: str,
        sent_ns: int,
        timeout_ns: int,
        event: str = "",
    ) -> None: ...

    def observe_ack(
        self, key: Hashable, recv_ns: int, ok: bool = True, detail: str = ""
    ) -> object: ...

    def sweep(self, now_ns: int | None = None) -> int: ...

    def next_deadline(self) -> int | None: ...
