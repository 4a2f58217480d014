"""`python -m demo` end to end, as `make demo` runs it, in a subprocess.

The demo starts its own broker (Tansu behind the SASL_SSL + SCRAM front-end), so these tests
need nothing from the session fixtures. Each one checks that the Tansu process the demo
reported is gone afterwards, whichever way the run ended.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from demo import messages
from demo.console import WIDTH
from demo.readback import COUNTS_HEADER
from demo.runner import INTERRUPTED_EXIT, TITLES, process_exists

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREEN_LINES = 64
TANSU_PID = re.compile(r"Tansu pid (\d+) on ")
COUNT_CELL = re.compile(r"([a-z][a-z0-9_]*)\s+(\d+)")


def demo_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "demo", *arguments]


def demo_environment() -> dict[str, str]:
    """The caller's environment without Kafka or AWS settings the demo must set itself."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KAFKA_", "AWS_", "DOCUMENT_EXCEPTIONS_", "MESSAGE_", "PRODUCER_"))
    }


def run_demo(*arguments: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        demo_command(*arguments),
        cwd=REPO_ROOT,
        env=demo_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tansu_pid(output: str) -> int:
    match = TANSU_PID.search(output)
    assert match, f"the demo did not report its Tansu pid:\n{output}"
    return int(match.group(1))


def counts_table(output: str) -> Counter[str]:
    """The demo's count block: the lines after COUNTS_HEADER up to the next non-count line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == COUNTS_HEADER)
    counts: Counter[str] = Counter()
    for line in lines[start + 1 :]:
        cells = COUNT_CELL.findall(line)
        if not cells or COUNT_CELL.sub("", line).strip():
            break
        counts.update({name: int(count) for name, count in cells})
    return counts


@pytest.mark.timeout(300)
def test_demo_runs_every_step_reads_back_what_it_sent_and_fits_one_screen():
    result = run_demo()

    output = result.stdout
    assert result.returncode == 0, f"{output}\n{result.stderr}"
    for number, title in TITLES.items():
        assert f"[ok] step {number}: {title} (" in output
    assert counts_table(output) == messages.expected_counts()
    assert f"{len(messages.EXPECTED)} records = {len(messages.EXPECTED)} sent" in output
    assert not process_exists(tansu_pid(output))
    lines = output.splitlines()
    assert len(lines) <= SCREEN_LINES, "the output no longer fits one screen"
    assert max(len(line) for line in lines) <= WIDTH
    assert lines[-1].endswith("; next: make broker")  # the playground, README "Try it locally"
    log = (REPO_ROOT / ".demo" / "demo.log").read_text(encoding="utf-8").splitlines()
    refused = [
        line for line in log if "SaslAuthentication" in line and "EXPECTED FAILURES" not in line
    ]
    assert refused, "the wrong-password check logged nothing"
    assert all(line.startswith("EXPECTED ") for line in refused), refused


@pytest.mark.timeout(120)
def test_a_failing_step_names_itself_skips_what_depends_on_it_and_exits_non_zero():
    result = run_demo("--skip-synth", "--topic", "not a topic!")

    output = result.stdout
    assert result.returncode == 1, output
    failed = next(line for line in output.splitlines() if "[FAILED] step 3:" in line)
    assert "TopicName" in failed
    assert "'not a topic!'" in failed
    assert f"[skipped] step 4: {TITLES[4]} (needs step 3)" in output
    assert f"[skipped] step 5: {TITLES[5]} (needs step 4)" in output
    assert f"[ok] step 6: {TITLES[6]}" in output
    assert f"demo FAILED: step 3 ({TITLES[3]})" in output
    assert not process_exists(tansu_pid(output))


@pytest.mark.timeout(120)
def test_ctrl_c_stops_everything_and_exits_130():
    process = subprocess.Popen(
        demo_command("--skip-synth"),
        cwd=REPO_ROOT,
        env=demo_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if line.strip().startswith("[ok] step 2:"):
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + rest

    assert process.returncode == INTERRUPTED_EXIT, output
    assert re.search(r"\[INTERRUPTED\] step [345]: .*: SIGINT", output), output
    assert f"[ok] step 6: {TITLES[6]}" in output
    pid = tansu_pid(output)
    deadline = time.monotonic() + 5
    while process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_exists(pid)
