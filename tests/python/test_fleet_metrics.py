"""`llmspell-fleet metrics` read by prometheus_client's own text-format parser, with real kernels.

The fleet binary is ``$LLMSPELL_FLEET`` or the ``llmspell-fleet`` beside the kernel binary
(run.sh builds both). Each test has its own ``LLMSPELL_HOME`` and stops every kernel it started.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import KERNELD

FLEET = Path(os.environ.get("LLMSPELL_FLEET") or KERNELD.parent / "llmspell-fleet")


@pytest.fixture
def fleet(tmp_path):
    env = dict(os.environ, LLMSPELL_HOME=str(tmp_path / "home"), LLMSPELL_KERNELD=str(KERNELD))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(FLEET), *args], env=env, capture_output=True, text=True, timeout=60, check=check
        )

    yield run
    subprocess.run(
        [str(KERNELD), "stop", "--all", "--timeout", "2"], env=env, capture_output=True, timeout=60
    )


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_parse_and_describe_the_fleet(fleet, tmp_path):
    spawned = fleet("spawn", "--count", "2", "--tag", "role=py").stdout.split()
    assert len(spawned) == 6  # id, pid, connection file per kernel (TSV)
    restarted = spawned[0]
    fleet("restart", restarted, "--timeout", "2")

    parsed = families(fleet("metrics").stdout)
    by_state = {s.labels["state"]: s.value for s in parsed["llmspell_fleet_kernels"].samples}
    assert by_state == {"running": 2, "unreachable": 0, "dead": 0, "missing": 0}
    for name in ("llmspell_kernel_rss_bytes", "llmspell_kernel_uptime_seconds",
                 "llmspell_kernel_health_latency_seconds", "llmspell_kernel_up"):
        samples = parsed[name].samples
        assert len(samples) == 2, name
        assert all(s.value > 0 for s in samples), name
    # Counters: the parser names the family without _total and keeps it on the sample.
    restarts = {s.labels["id"]: s.value for s in parsed["llmspell_kernel_restarts"].samples}
    assert restarts[restarted] == 1
    assert parsed["llmspell_kernel_executions"].type == "counter"

    textfile = tmp_path / "collector" / "llmspell.prom"
    fleet("metrics", "--textfile", str(textfile))
    assert "llmspell_fleet_kernels" in families(textfile.read_text())
    assert [p.name for p in textfile.parent.iterdir()] == ["llmspell.prom"]


def test_a_dead_kernel_is_counted_as_dead(fleet):
    kernel_id = fleet("spawn", "--id", "doomed").stdout.split()[0]
    pid = json.loads(fleet("list", "--json").stdout)[0]["pid"]
    os.kill(pid, 9)
    # The kernel is not our child: wait (boundedly) until health sees its lock released.
    for _ in range(250):
        if fleet("health", check=False).returncode == 1:
            break
    parsed = families(fleet("metrics").stdout)
    by_state = {s.labels["state"]: s.value for s in parsed["llmspell_fleet_kernels"].samples}
    assert by_state["dead"] == 1 and by_state["running"] == 0
    up = {s.labels["id"]: s.value for s in parsed["llmspell_kernel_up"].samples}
    assert up == {kernel_id: 0}
