"""``fault: restart_server`` under real Locust (headless), local and master + worker.

``wsbench locust`` owns the embedded server; the Locust process asks it over the control
channel (:mod:`wsbench.integrations.control`), a worker asks the master first. Evidence
that it happened: the server's pid changed (``sections.server.pids``), the restart
counters agree, the listeners reconnected (``reconnects``) and their broadcasts after the
restart were all delivered, with no violation.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.integrations.support import free_port, stop, wait, wsbench_locust
from wsbench.integrations.control import ControlClient, ControlError, ControlServer
from wsbench.launch import Server, reference_server

RESTART = Path(__file__).with_name("restart.yaml")
HEADLESS = ["--headless", "-u", "5", "-r", "5", "-t", "10s", "--only-summary"]


def _check(tmp_path: Path) -> dict:
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    log = "\n".join(p.read_text() for p in sorted(tmp_path.glob("locust-*.log")))
    server = summary["sections"]["server"]
    assert server["embedded"] and server["restarts"] == 1, (server, log[-3000:])
    pids = server["pids"]
    assert len(pids) == 2 and pids[0] != pids[1] == server["pid"], server
    counters = summary["metrics"]["counters"]
    assert counters.get("server_restarts") == 1 and "restarts_skipped" not in counters, counters
    assert counters.get("reconnects", 0) >= 4, counters  # every listener came back
    delivery = summary["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    # 4 broadcasts after the restart, each to the 4 listeners
    assert delivery["delivered"] == delivery["expected"] == 16, delivery
    assert delivery["delivery_ratio"] == 1.0
    assert "restarting the embedded reference server (0.5 s down)" in log
    return summary


@pytest.mark.slow
def test_restart_server_under_local_locust_restarts_the_embedded_server(tmp_path: Path) -> None:
    proc = wsbench_locust([str(RESTART), *HEADLESS, "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 90, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    summary = _check(tmp_path)
    assert summary["sections"]["locust"]["runner"] == "LocalRunner"


@pytest.mark.slow
def test_restart_server_from_a_worker_is_done_by_the_master(tmp_path: Path) -> None:
    port = free_port()
    # no --host: the master's wsbench locust starts the embedded server and owns it
    master = wsbench_locust(
        [str(RESTART), "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
         str(port), "--expect-workers", "1", "--expect-workers-max-wait", "30", *HEADLESS,
         "--wsbench-report-dir", "rep"], tmp_path)
    worker: subprocess.Popen | None = None
    try:
        worker = wsbench_locust(
            [str(RESTART), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            tmp_path)
        assert wait(master, 90, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
        assert wait(worker, 30, tmp_path) == 0
    finally:
        for p in (master, worker):
            if p is not None:
                stop(p)
    summary = _check(tmp_path)
    assert summary["sections"]["locust"]["runner"] == "MasterRunner"
    assert "wsbench_restart" not in (tmp_path / "locust-1.log").read_text()  # no error logged


# -- the channel itself (a real reference server, no Locust) ------------------------------------


def test_the_control_channel_restarts_the_server_and_reports_bad_requests() -> None:
    with Server(reference_server("--app-heartbeat-interval", "0")) as server:
        control = ControlServer(server)
        client = ControlClient(socket.dup(control.child_fd))
        control.started()
        try:
            first = client.info()
            assert first["pid"] == server.pid and first["restarts"] == 0
            reply = client.restart(0.1)
            assert reply["restarts"] == 1 and reply["pid"] == server.pid != first["pid"]
            assert client.info()["pids"] == [first["pid"], reply["pid"]]
            with pytest.raises(ControlError, match="downtime must be seconds"):
                client.request("restart", 5.0, downtime=-1)
            with pytest.raises(ControlError, match="unknown control op 'reboot'"):
                client.request("reboot", 5.0)
            assert control.handle(b"not json")["error"].startswith("not a control request")
            control.close()
            # the parent's side gone: a clear error, not a hang
            with pytest.raises(ControlError, match="control channel"):
                client.info()
        finally:
            control.close()
            client.close()


def test_a_closed_channel_is_a_control_error_not_a_hang() -> None:
    mine, theirs = socket.socketpair()
    client = ControlClient(theirs.detach())
    done = threading.Event()

    def parent_dies() -> None:
        mine.recv(100)  # the request arrived; the parent exits without answering
        mine.close()
        done.set()

    threading.Thread(target=parent_dies, daemon=True).start()
    with pytest.raises(ControlError, match="closed"):
        client.info()
    assert done.wait(5.0)  # the error came from the parent's close, which the thread set after
    client.close()


def test_control_env_is_validated() -> None:
    from wsbench.exceptions import ConfigError

    assert ControlClient.from_env(environ={}) is None
    with pytest.raises(ConfigError, match="must be a file descriptor number, not 'x'"):
        ControlClient.from_env(environ={"WSBENCH_LOCUST_CONTROL_FD": "x"})
