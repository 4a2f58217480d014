"""`make broker`: a local Kafka to try the commands and the Django example against.

It starts the same broker the demo and the tests use: Tansu (in memory) behind the test
harness's TLS + SASL/SCRAM-SHA-512 front-end, so clients speak SASL_SSL with SCRAM-SHA-512
exactly as they do to Amazon MSK on port 9096, and what works here needs no change there but
the addresses and the login. It creates the environment's topic from cdk.json (`dev`:
`DocumentExceptions`, 3 partitions) before any client can auto-create it with Tansu's default
of 4, prints the `export KAFKA_...` lines to paste into other terminals (also written to
`.demo/broker.env`, readable by you only, for `source`), and runs until Ctrl-C.

`--plaintext` starts Tansu alone on a plain port instead, like the source guide's
development `config.json` (`localhost:9092`, no security protocol): quicker to point a
config file at, but it does not exercise TLS or the login.

The login is a random password made for this run and the CA is a throwaway one, removed on
stop: neither is a secret worth keeping, and both change on every start.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from demo import REPO_ROOT

ENV_FILE = REPO_ROOT / ".demo" / "broker.env"
SASL_SSL_PORT = 9096  # MSK's SASL/SCRAM port
PLAINTEXT_PORT = 9092  # the source guide's development config.json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo.playground",
        description=(
            "Start a local Kafka broker (SASL_SSL + SCRAM-SHA-512, as MSK speaks) with the "
            "environment's topic, print the KAFKA_* settings, and run until Ctrl-C."
        ),
        epilog="example: python -m demo.playground --env dev   (what `make broker` runs)",
    )
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default: dev)")
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on (default: {SASL_SSL_PORT}, or {PLAINTEXT_PORT} with "
        "--plaintext; 0 picks a free one)",
    )
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="no TLS and no login, like the source guide's development config.json",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=ENV_FILE,
        help=f"where to write the export lines (default: {ENV_FILE.relative_to(REPO_ROOT)})",
    )
    return parser.parse_args(argv)


def load_topic(environment: str) -> Any:
    """The environment's topic settings from cdk.json, validated as synth validates them."""
    from demo.synth_summary import cdk_context  # noqa: PLC0415
    from stacks.config import load_environments, select_environments  # noqa: PLC0415

    (config,) = select_environments(load_environments(cdk_context()["environments"]), environment)
    return config.topic


def start_broker(plaintext: bool, port: int) -> Any:
    """Tansu behind the SASL_SSL front-end on `port`, or Tansu alone on `port`."""
    from tests.harness import SaslSslBroker, TansuBroker  # noqa: PLC0415

    if plaintext:
        return TansuBroker(port=port or None).start()
    return SaslSslBroker(username="playground", port=port).start()


def client_env(broker: Any, topic: str) -> dict[str, str]:
    """The variables the library, the operator commands and the Django example read."""
    env = (
        broker.client_env()
        if hasattr(broker, "client_env")
        else {
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([broker.bootstrap]),
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        }
    )
    return {**env, "KAFKA_TOPIC": topic}


def admin_config(broker: Any) -> dict[str, Any]:
    if hasattr(broker, "kafka_python_config"):
        return broker.kafka_python_config()
    return {"bootstrap_servers": [broker.bootstrap]}


def create_topic(broker: Any, name: str, partitions: int, replication_factor: int) -> str:
    """Create the topic; say so if it was there already (a broker cannot outlive a restart)."""
    from kafka import KafkaAdminClient  # noqa: PLC0415
    from kafka.admin import NewTopic  # noqa: PLC0415
    from kafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    admin = KafkaAdminClient(**admin_config(broker), client_id="document-exceptions-playground")
    try:
        admin.create_topics([NewTopic(name, partitions, replication_factor)])
        return "created"
    except TopicAlreadyExistsError:
        return "already there"
    finally:
        admin.close()


def export_lines(env: Mapping[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def write_env_file(path: Path, lines: list[str]) -> None:
    """The export lines in a file only its owner can read (it holds this run's password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("# document-exceptions local broker (make broker); valid while it runs\n")
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    try:
        topic = load_topic(args.env)
    except ValueError as exc:
        print(f"broker: configuration: {exc}", file=sys.stderr)
        return 2
    port = (
        args.port
        if args.port is not None
        else (PLAINTEXT_PORT if args.plaintext else SASL_SSL_PORT)
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    from tests.harness import TansuStartError  # noqa: PLC0415

    try:
        broker = start_broker(args.plaintext, port)
    except (TansuStartError, OSError) as exc:
        print(f"broker: could not start on port {port}: {exc}", file=sys.stderr)
        print(
            "broker: is another `make broker` running? Pick a port with PORT=...", file=sys.stderr
        )
        return 1
    try:
        state = create_topic(broker, topic.name, topic.partitions, topic.replication_factor)
        env = client_env(broker, topic.name)
        lines = export_lines(env)
        write_env_file(args.env_file, lines)
        kind = "PLAINTEXT" if args.plaintext else "SASL_SSL + SCRAM-SHA-512 (as MSK)"
        print(f"Local Kafka broker on {broker.bootstrap}, {kind}; in memory, gone on stop.")
        print(
            f"Topic {topic.name} ({topic.partitions} partitions, the {args.env} environment's "
            f"settings in cdk.json): {state}."
        )
        print(f"\nIn another terminal, paste these lines (or `source {display(args.env_file)}`):\n")
        for line in lines:
            print(f"  {line}")
        print(
            "\nthen try:  document-exceptions doctor\n"
            "           document-exceptions send --order-req-id SB1029435 "
            "--s3-key documents/file.pdf --user-id user123 --exception-type file_not_found "
            "--error-message 'Document not found in S3'\n"
            "           document-exceptions tail --from-beginning --to-end\n"
            "\nRunning; Ctrl-C stops it.",
            flush=True,
        )
        stop.wait()
        return 0
    finally:
        broker.stop()
        args.env_file.unlink(missing_ok=True)
        print("Broker stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
