"""``wsbench run --processes auto|N``: how many driver processes, and the line that says why."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from wsbench.cli import cli
from wsbench.scenario.processes import CLIENTS_PER_PROCESS, choose_processes


@pytest.mark.parametrize("requested, clients, cores, embedded, n, words", [
    (1, 5000, 4, False, 1, "--processes 1"),  # a number forces it
    (3, 2000, 2, True, 3, "--processes 3"),
    # the main job on 2 cores: one of them runs the embedded server, 2,000 fit one process
    (None, 2000, 2, True, 1, "2,000 clients <= 2,000 per process"),
    (None, 5000, 2, True, 1, "5,000 clients > 2,000 per process, 2 cores, one for the embedded"),
    (None, 5000, 2, False, 2, "5,000 clients > 2,000 per process, 2 cores;"),  # a remote target
    (None, 5000, 8, True, 3, "--processes 1 forces one"),  # one per 2,000 clients
    (None, 20_000, 4, True, 3, "4 cores, one for the embedded server"),  # at most the spare cores
    (None, 5000, 1, False, 1, "1 core;"),
    (None, 5000, None, False, 1, "1 core;"),  # os.cpu_count() unknown
])
def test_choice_and_reason(requested, clients, cores, embedded, n, words):
    got, why = choose_processes(requested, clients, cores, embedded=embedded)
    assert got == n
    assert why.startswith(f"processes: {n} (") and words in why, why


def test_bound_is_the_documented_one():
    assert CLIENTS_PER_PROCESS == 2000


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_value_is_a_usage_error(value, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("clients: 1\nduration: 1s\ngroups: [{flow: [{connect: /}]}]\n")
    result = CliRunner().invoke(cli, ["run", str(path), "--processes", value])
    assert result.exit_code == 2
    assert "expected 'auto' or a number of processes >= 1" in result.output


def test_help_names_auto():
    result = CliRunner().invoke(cli, ["run", "--help"])
    text = " ".join(result.output.split())  # click wraps the help
    assert "N|auto" in text and "--processes 1 forces one" in text
