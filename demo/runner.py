"""Run the six steps, stop what was started however the run ends, and set the exit code.

Exit codes: 0 when every step passed (or was skipped on request), 1 when a step failed,
130 after Ctrl-C (SIGINT), 128 + the signal number after SIGTERM or SIGHUP. Step 6 runs in
every case; while it runs, Ctrl-C, SIGTERM and SIGHUP are ignored so that the broker is
always stopped (every stop has its own timeout).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from demo import REPO_ROOT
from demo.console import Console, StepFailedError, StepOutcome

LOG_PATH = REPO_ROOT / ".demo" / "demo.log"
TITLES = {
    1: "synthesize every environment offline",
    2: "start the local broker behind SASL_SSL (SCRAM-SHA-512 and AWS_MSK_IAM)",
    3: "topic bootstrap over IAM: CloudFormation Create, then Create again",
    4: "publish through every entry point (producer over IAM, library over SCRAM)",
    5: "read the topic back with an independent consumer",
    6: "stop everything the demo started",
}
# Which earlier steps each step needs (step 1 only informs; the rest build on each other).
REQUIRES = {1: (), 2: (), 3: (2,), 4: (3,), 5: (4,)}
INTERRUPTED_EXIT = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """Ctrl-C (SIGINT), SIGTERM or SIGHUP arrived: stop what runs, then step 6."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Cleanup:
    """What to stop, in reverse order of starting; every stop runs even if one fails."""

    actions: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def add(self, label: str, action: Callable[..., Any], *args: Any) -> None:
        self.actions.append((label, lambda: action(*args)))

    def run(self, console: Console) -> tuple[list[str], list[str]]:
        """Run every action (last added first); the labels of those stopped, and of failures."""
        stopped, failures = [], []
        while self.actions:
            label, action = self.actions.pop()
            try:
                action()
            except Exception as exc:  # keep stopping the rest
                console.log(f"stopping {label} failed: {traceback.format_exc()}")
                failures.append(f"{label} ({type(exc).__name__}: {exc})")
            else:
                stopped.append(label)
        return stopped, failures


@dataclass
class Demo:
    console: Console
    config: Any  # stacks.config.EnvironmentConfig of the environment run locally
    topic: str
    skip_synth: bool
    cleanup: Cleanup = field(default_factory=Cleanup)
    broker: Any = None  # tests.harness.SaslSslBroker
    tansu_pid: int | None = None
    current: int | None = None
    started: float = field(default_factory=time.monotonic)
    signal_received: int | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Raise `Interrupted`, and remember the signal: code under demo that swallows the
        exception (jsii does, when Ctrl-C also ends its node process) cannot hide it."""
        self.signal_received = signum
        raise Interrupted(signum)

    # --- steps ---------------------------------------------------------------------------

    def synthesize(self) -> None:
        from demo import synth_summary  # noqa: PLC0415 - imports aws_cdk (slow)

        synth_summary.run(self.console)

    def start_broker(self) -> None:
        from demo import local_kafka  # noqa: PLC0415
        from tests.harness import SaslSslBroker  # noqa: PLC0415

        self.broker = SaslSslBroker(username=self.config.scram_username)
        self.cleanup.add("broker", self.broker.stop)  # before start: stop() is safe either way
        self.broker.start()
        self.tansu_pid = self.broker.broker.process.pid
        local_kafka.describe(self.console, self.broker, self.config.region)
        with (
            self.console.quiet(),
            self.console.expected_failures(
                "the wrong-password check: SaslAuthenticationFailedError is the point"
            ),
        ):
            local_kafka.check_wrong_password_is_refused(self.console)
        self.console.route_logging()

    def bootstrap_topic(self) -> None:
        from demo import topic_step  # noqa: PLC0415

        topic_step.run(self.console, self.config, self.topic, self.broker)

    def publish(self) -> None:
        from demo.publishing import Publishing  # noqa: PLC0415

        Publishing(self.console, self.config, self.topic, self.cleanup, self.broker).run()

    def read_back(self) -> None:
        from demo import readback  # noqa: PLC0415

        readback.run(self.console, self.broker.confluent_config(), self.topic)

    def stop(self) -> StepOutcome:
        started = time.monotonic()
        self.console.header(6, TITLES[6])
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
        try:
            stopped, failures = self.cleanup.run(self.console)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        gone = ""
        if self.tansu_pid is not None:
            if process_exists(self.tansu_pid):
                failures.append(f"Tansu pid {self.tansu_pid} is still running")
            else:
                gone = f"; Tansu pid {self.tansu_pid} is gone"
        self.console.detail(f"stopped {', '.join(stopped) or 'nothing (nothing started)'}{gone}")
        outcome = StepOutcome(6, TITLES[6], "ok", time.monotonic() - started)
        if failures:
            outcome.status, outcome.reason = "failed", "; ".join(failures)
        self.console.record(outcome)
        return outcome

    # --- running -------------------------------------------------------------------------

    def run_step(self, number: int, action: Callable[[], None]) -> None:
        title = TITLES[number]
        broken = [
            o.number
            for o in self.console.outcomes
            if o.number in REQUIRES[number] and o.status != "ok"
        ]
        if broken:
            self.console.header(number, title)
            self.console.record(
                StepOutcome(number, title, "skipped", reason=f"needs step {broken[0]}")
            )
            return
        self.console.header(number, title)
        self.current = number
        started = time.monotonic()
        try:
            action()
        except StepFailedError as exc:
            outcome = StepOutcome(number, title, "failed", reason=str(exc))
        except Exception as exc:
            self.console.log(traceback.format_exc())
            outcome = StepOutcome(number, title, "failed", reason=f"{type(exc).__name__}: {exc}")
        else:
            outcome = StepOutcome(number, title, "ok")
        if self.signal_received is not None:
            raise Interrupted(self.signal_received)
        outcome.seconds = time.monotonic() - started
        self.current = None
        self.console.record(outcome)

    def run(self) -> int:
        """Steps 1-5, then step 6 whatever happened; the exit code."""
        exit_code = 0
        steps: list[tuple[int, Callable[[], None]]] = [
            (2, self.start_broker),
            (3, self.bootstrap_topic),
            (4, self.publish),
            (5, self.read_back),
        ]
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.on_signal)
        try:
            if self.skip_synth:
                self.console.header(1, TITLES[1])
                self.console.record(StepOutcome(1, TITLES[1], "skipped", reason="--skip-synth"))
            else:
                self.run_step(1, self.synthesize)
            for number, action in steps:
                self.run_step(number, action)
        except (KeyboardInterrupt, Interrupted) as exc:
            # The step running, or (between two steps) the first one that had not started.
            finished = {outcome.number for outcome in self.console.outcomes}
            number = self.current or next((n for n in REQUIRES if n not in finished), 5)
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT.value
            exit_code = INTERRUPTED_EXIT if signum == signal.SIGINT else 128 + signum
            self.console.record(
                StepOutcome(
                    number,
                    TITLES.get(number, "?"),
                    "interrupted",
                    reason=signal.Signals(signum).name,
                )
            )
        finally:
            self.stop()
        failed = [o for o in self.console.outcomes if o.status in ("failed", "interrupted")]
        wall = time.monotonic() - self.started
        if failed:
            names = ", ".join(f"step {o.number} ({o.title})" for o in failed)
            self.console.line(
                f"demo FAILED: {names}; details in {display_path(self.console.log_path)}"
            )
            return exit_code or 1
        # One line, pointing at the playground (README "Try it locally"): the output fits a screen.
        log = display_path(self.console.log_path)
        self.console.line(
            f"demo: every step passed in {wall:.1f} s (log: {log}); next: make broker"
        )
        return exit_code


def process_exists(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def display_path(path: os.PathLike[str] | str) -> str:
    try:
        return os.path.relpath(path, os.getcwd())
    except ValueError:
        return str(path)


def load_config(name: str) -> Any:
    from demo.synth_summary import cdk_context  # noqa: PLC0415
    from stacks.config import load_environments, select_environments  # noqa: PLC0415

    (config,) = select_environments(load_environments(cdk_context()["environments"]), name)
    return config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run document-exceptions end to end on this machine (no AWS account).",
    )
    parser.add_argument(
        "--env",
        default="dev",
        help="environment from cdk.json whose topic and producer settings run locally (dev)",
    )
    parser.add_argument(
        "--topic", help="topic to create and publish to (default: the environment's)"
    )
    parser.add_argument("--skip-synth", action="store_true", help="skip step 1 (synthesis)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    console = Console(LOG_PATH, total_steps=len(TITLES))
    console.route_logging()
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's DEBUG has the password
    sys.path.insert(0, str(REPO_ROOT))
    try:
        config = load_config(args.env)
    except ValueError as exc:
        console.line(f"demo FAILED: configuration: {exc}")
        return 1
    topic = args.topic or config.topic.name
    console.line(
        f"document-exceptions demo: {config.name}'s topic '{topic}' on a local broker "
        f"(log: {display_path(LOG_PATH)})"
    )
    try:
        return Demo(console, config, topic, args.skip_synth, started=started).run()
    finally:
        console.close()
