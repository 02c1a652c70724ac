"""``wsbench run --processes auto|N``: how many driver processes, and the line that says why."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from wsbench.cli import cli
from wsbench.scenario.processes import CLIENTS_PER_PROCESS, choose_processes


@pytest.mark.parametrize("requested, clients, cores, n, words", [
    (1, 2000, 2, 1, "--processes 1"),  # a number forces it
    (3, 2000, 2, 3, "--processes 3"),
    (None, 2000, 2, 2, "auto: 2,000 clients > 1,000 per process, 2 cores"),  # the main job
    (None, 1000, 8, 1, "1,000 clients <= 1,000"),
    (None, 2000, 1, 1, "1 core"),
    (None, 2000, None, 1, "1 core"),  # os.cpu_count() unknown
    (None, 10_000, 4, 4, "4 cores"),  # at most one per core
    (None, 2500, 8, 3, "2,500 clients"),
])
def test_choice_and_reason(requested, clients, cores, n, words):
    got, why = choose_processes(requested, clients, cores)
    assert got == n
    assert why.startswith(f"processes: {n} (") and words in why


def test_bound_is_the_documented_one():
    assert CLIENTS_PER_PROCESS == 1000


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_value_is_a_usage_error(value, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("clients: 1\nduration: 1s\ngroups: [{flow: [{connect: /}]}]\n")
    result = CliRunner().invoke(cli, ["run", str(path), "--processes", value])
    assert result.exit_code == 2
    assert "expected 'auto' or a number of processes >= 1" in result.output


def test_help_names_auto():
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert "N|auto" in result.output and "--processes 1 forces one" in result.output
