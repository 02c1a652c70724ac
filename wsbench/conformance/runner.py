"""Run selected checks against one or more targets and collect :class:`CheckResult` s.

Per target: a preflight reads the handshake (limits, whether ``/engine.io/`` echoes) and
fails fast with :class:`~wsbench.exceptions.ConnectFailed` when nothing answers. Then the
checks run tier by tier; inside a tier several at a time (each has its own probe, sockets
and transcript), except ``exclusive`` ones (timing-sensitive or heavy), which run alone. Checks
marked ``last`` (they may kill the target) run after every tier, one at a time. The runner is the
boundary where anything a check raises becomes a result: a :class:`Finding` its verdict, a
timeout or an unexpected exception a FAILED with a one-line reason (and a logged traceback).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wsbench.client.raw import RawProbe, Transcript
from wsbench.conformance.context import CheckContext, Limits, TargetInfo, parse_open
from wsbench.conformance.model import (
    TIER_ORDER,
    CheckResult,
    CloseVerdict,
    Finding,
    Tier,
    Verdict,
)
from wsbench.conformance.registry import Check
from wsbench.conformance.translate import MsgpackTranslator, translator_factory
from wsbench.exceptions import ConnectFailed, HandshakeRejected, ParserMismatch, WsbenchError

__all__ = ["TargetSpec", "TargetReport", "preflight", "run_target", "run_all"]

log = logging.getLogger(__name__)

ResultHook = Callable[[str, Check, CheckResult], None]


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A server to check.

    Attributes:
        url: ``http://host:port``.
        name: label in reports.
        jwt_secret: the HS256 secret the server at ``url`` verifies, if it has auth on.
        auth_url: a server with auth on for the auth checks (``url`` itself when it has
            ``jwt_secret``; the embedded target starts a second server for them).
        auth_secret: the secret of ``auth_url``.
        recovery_url: a server with connection state recovery on (default: ``auth_url``
            when the embedded target started one with recovery, else ``url``).
        parser: the Socket.IO parser the target speaks (``default`` or ``msgpack``); on
            msgpack the checks' literal packets are translated (:mod:`.translate`).
        nodes: the URLs of a cluster's nodes (the cluster tier spreads its sockets over them).
        balancer: the URL of a load balancer in front of a cluster (the cluster tier finds out
            which node each socket landed on with the ``cluster emit`` trigger).
        app_target: where the contract, security and load tiers run instead (and the checks
            an app file generates): a twin of this target with the default heartbeat that
            ``--target embedded`` and the test fixtures start
            (:func:`~wsbench.conformance.embedded.embedded_targets`); their results join this
            target's report (:func:`~wsbench.conformance.command.run_specs`). None: here.
    """

    url: str
    name: str = ""
    jwt_secret: str | None = None
    auth_url: str | None = None
    auth_secret: str | None = None
    recovery_url: str | None = None
    parser: str = "default"
    nodes: tuple[str, ...] = ()
    balancer: str | None = None
    app_target: TargetSpec | None = None

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(slots=True)
class TargetReport:
    """The results of one target, in catalog order."""

    name: str
    url: str
    limits: Limits | None
    results: dict[str, CheckResult] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = {str(v): 0 for v in Verdict if v is not Verdict.MISSING}
        for r in self.results.values():
            counts[str(r.verdict)] = counts.get(str(r.verdict), 0) + 1
        return counts

    @property
    def failed(self) -> bool:
        return any(r.verdict is Verdict.FAILED for r in self.results.values())


def close_bound(limits: Limits, factor: float) -> float:
    """Seconds to wait for a close: half of pingInterval, at least 200 ms, at most 1 s.

    Pings are answered meanwhile, so a close inside the bound cannot be a heartbeat timeout.
    """
    return min(max(limits.ping_interval / 2000.0, 0.2), 1.0) * factor


def deliver_bound(limits: Limits, factor: float) -> float:
    """Seconds to wait for an expected delivery: one heartbeat round, 2 s to 10 s.

    pingInterval + pingTimeout is how long the target itself lets a peer stay silent before
    it declares the connection dead; a delivery it owes (already acked to the sender) that
    takes longer is lost, not late. The floor keeps the short heartbeats of test servers
    (300 + 200 ms) from turning a loaded machine into a verdict; the cap bounds a run
    against a default server (25 + 20 s). Only a FAILED ever waits the whole bound.
    """
    heartbeat = (limits.ping_interval + limits.ping_timeout) / 1000.0
    return min(max(heartbeat, 2.0), 10.0) * factor


QUIET_WINDOW = 0.15
"""Seconds (scaled) in which no extra copy may arrive, once the expected ones are all in."""


async def preflight(spec: TargetSpec, factor: float = 1.0) -> TargetInfo:
    """Handshake once to learn the limits; fail fast when the target is unreachable.

    Raises:
        ConnectFailed: nothing answers at the address.
        HandshakeRejected: ``/socket.io/`` does not answer an Engine.IO v4 handshake.
        ParserMismatch: the target closes on a CONNECT in ``spec.parser`` and answers one
            in the other parser (one line naming the parser to run with).
    """
    async with RawProbe(spec.url, timeout=5.0 * factor) as probe:
        resp = await probe.request("GET", "/socket.io/", "EIO=4&transport=polling")
        if resp.status == 0:
            raise ConnectFailed(spec.url, resp.error)
        info = parse_open(resp.text) if resp.status == 200 else None
        if info is None:
            raise HandshakeRejected(spec.url, resp.status, resp.text)
        ints = {k: info.get(k) for k in ("pingInterval", "pingTimeout", "maxPayload")}
        limits = Limits(
            ping_interval=ints["pingInterval"] if isinstance(ints["pingInterval"], int) else 25000,
            ping_timeout=ints["pingTimeout"] if isinstance(ints["pingTimeout"], int) else 20000,
            max_payload=ints["maxPayload"] if isinstance(ints["maxPayload"], int) else 1_000_000,
        )
        echo = await probe.request("GET", "/engine.io/", "EIO=4&transport=polling")
        eio_echo = echo.status == 200 and parse_open(echo.text) is not None
    await parser_check(spec, factor)
    return TargetInfo(
        url=spec.url,
        name=spec.label,
        limits=limits,
        eio_echo=eio_echo,
        jwt_secret=spec.jwt_secret,
        auth_url=spec.auth_url or (spec.url if spec.jwt_secret else None),
        auth_secret=spec.auth_secret or spec.jwt_secret,
        recovery_url=spec.recovery_url or spec.url,
        close_within=close_bound(limits, factor),
        deliver_within=deliver_bound(limits, factor),
        quiet_window=QUIET_WINDOW * factor,
        factor=factor,
        parser=spec.parser,
        nodes=spec.nodes,
        balancer=spec.balancer,
    )


async def parser_check(spec: TargetSpec, factor: float) -> None:
    """One CONNECT to ``/`` in the target's parser over polling; a mismatch raises.

    Any other outcome (connected, refused by auth, timed out) is left to the checks.

    Raises:
        ParserMismatch: the target speaks the other parser.
    """
    from wsbench.client.api import connect

    auth = None
    if spec.jwt_secret:
        from wsbench.conformance.sio import mint_token

        auth = {"token": mint_token(spec.jwt_secret, {"userId": "wsbench-conform"})}
    try:
        client = await connect(
            spec.url, parser=spec.parser, transports="polling", reconnection=False,
            timeout=5.0 * factor, auth=auth,
        )
    except ParserMismatch:
        raise
    except (WsbenchError, TimeoutError, OSError):
        return
    await client.close()


def _translator(info: TargetInfo, chk: Check) -> type[MsgpackTranslator] | None:
    """Engine.IO is below the parser: its checks go untranslated."""
    return None if chk.spec.tier is Tier.ENGINEIO else translator_factory(info.parser)


async def run_check(info: TargetInfo, chk: Check) -> CheckResult:
    """Run one check to a :class:`CheckResult`; never raises (but for cancellation)."""
    transcript = Transcript()
    started = time.monotonic()
    verdict, reason = Verdict.OK, ""
    translator = _translator(info, chk)
    async with RawProbe(
        info.url, transcript, timeout=5.0 * info.factor, translator=translator
    ) as probe:
        ctx = CheckContext(info, probe)
        try:
            async with asyncio.timeout(chk.spec.timeout * info.factor):
                reason = await chk.fn(ctx) or ""
        except Finding as finding:
            verdict, reason = finding.verdict, finding.reason
        except TimeoutError:
            verdict = Verdict.FAILED
            reason = f"check did not finish within {chk.spec.timeout * info.factor:.1f} s"
        except ConnectFailed as exc:
            verdict, reason = Verdict.FAILED, f"target unreachable during the check: {exc.reason}"
        except Exception as exc:  # the runner is the boundary: a broken check is a result
            log.exception("check %s raised", chk.spec.id)
            verdict, reason = Verdict.FAILED, f"check error: {type(exc).__name__}: {exc}"
        finally:
            await ctx.aclose()
    if not reason:
        reason = "as specified"
    close_verdict = ctx.close_verdict
    closes = [c for p in ctx.peers if (c := p.silent_close())] if verdict is Verdict.FAILED else []
    if verdict is Verdict.UNIMPLEMENTED:
        close_verdict = CloseVerdict.NONE
    return CheckResult(
        id=chk.spec.id,
        verdict=verdict,
        reason=reason.splitlines()[0] if reason else reason,
        close_verdict=close_verdict,
        close_code=ctx.close_code,
        time_to_close_ms=ctx.time_to_close_ms,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        transcript=tuple(transcript.lines()),
        details=dict(ctx.details) | ({SILENT_CLOSE: closes} if closes else {}),
    )


SILENT_CLOSE = "silent_close"
"""A FAILED result's details key: the connections the server closed without a word."""


async def run_judged(info: TargetInfo, chk: Check) -> CheckResult:
    """:func:`run_check`, with the inconclusive-close rule (issue 9 #1).

    A check that FAILED while the server had closed one of its connections without an
    Engine.IO CLOSE or a DISCONNECT, though the probe answered every ping on arrival, cannot
    tell a wrong server from a machine too starved to keep the heartbeat (the server's, or
    the checker's): it is re-run once on fresh sessions. FAILED again (for any reason):
    FAILED, naming the first run's close too. Otherwise INFORMATIONAL, naming the close and
    the re-run's verdict; both transcripts are kept.
    """
    first = await run_check(info, chk)
    closes = first.details.get(SILENT_CLOSE)
    if first.verdict is not Verdict.FAILED or not closes:
        return first
    again = await run_check(info, chk)
    said = "; ".join(closes)
    transcript = (*first.transcript, "--- re-run on fresh sessions ---", *again.transcript)
    details = {**again.details, "first_run": {"reason": first.reason, SILENT_CLOSE: closes}}
    if again.verdict is Verdict.FAILED:
        return dataclasses.replace(
            again,
            reason=f"{again.reason} (FAILED again on fresh sessions; the first run: {first.reason}"
            f" after the server closed {said})",
            transcript=transcript,
            details=details,
        )
    return dataclasses.replace(
        again,
        verdict=Verdict.INFORMATIONAL,
        reason=f"inconclusive: {first.reason}, after the server closed {said} (no CLOSE packet "
        f"or DISCONNECT, every ping answered: a heartbeat timeout of a starved machine looks "
        f"so); re-run on fresh sessions: {again.verdict} ({again.reason})",
        transcript=transcript,
        details=details,
    )


async def run_target(
    spec: TargetSpec,
    checks: Sequence[Check],
    *,
    factor: float = 1.0,
    parallel: int = 4,
    on_result: ResultHook | None = None,
) -> TargetReport:
    """Preflight ``spec`` then run ``checks``; results come back in ``checks`` order."""
    info = await preflight(spec, factor)
    report = TargetReport(spec.label, spec.url, info.limits)
    done: dict[str, CheckResult] = {}
    gate = asyncio.Semaphore(max(1, parallel))

    async def one(chk: Check) -> None:
        async with gate:
            result = await run_judged(info, chk)
        done[chk.spec.id] = result
        if on_result is not None:
            on_result(spec.label, chk, result)

    # One phase per tier: a tier's checks run side by side, but never beside another tier's
    # (a contract broadcast to every socket of / must not land in a literal-wire check).
    for tier in TIER_ORDER:
        phase = [c for c in checks if c.spec.tier is tier and not c.spec.last]
        await asyncio.gather(*(one(c) for c in phase if not c.spec.exclusive))
        for chk in (c for c in phase if c.spec.exclusive):
            await one(chk)
    # a check that may crash the target runs when nothing else needs it any more
    for chk in (c for c in checks if c.spec.last):
        await one(chk)
    for chk in checks:
        report.results[chk.spec.id] = done[chk.spec.id]
    return report


async def run_all(
    specs: Sequence[TargetSpec],
    checks: Sequence[Check],
    *,
    factor: float = 1.0,
    parallel: int = 4,
    on_result: ResultHook | None = None,
) -> list[TargetReport]:
    """Every target in turn (so their timings do not disturb each other)."""
    reports = []
    for spec in specs:
        reports.append(
            await run_target(spec, checks, factor=factor, parallel=parallel, on_result=on_result)
        )
    return reports
