"""`document-exceptions`: operator commands for the document-exceptions topic and its producer.

    document-exceptions tail   [--stack S --region R] [--type T] [--order O] [--user U]
                               [--since 15m] [--from-beginning] [--json]
                               [--max-messages N] [--timeout SECONDS] [--to-end]
    document-exceptions send   [--stack S --region R] (--file msg.json | --order-req-id ...)
    document-exceptions replay  --stack S --region R [--dry-run | --status | --cancel] [--wait]
    document-exceptions doctor  --stack S --region R [--partitions N]

Without ``--stack`` the Kafka commands use the guide's local settings (``KAFKA_BOOTSTRAP_SERVERS``
and the other ``KAFKA_*`` variables, or ``--config config.json``). With ``--stack`` they read
the deployed environment's CloudFormation outputs and its SCRAM secret (AWS credentials from
the usual places: environment, profile, instance role). Exit status: 0 success, 1 failure
(the message says what to check), 2 bad usage or a message the contract rejects, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any

from document_exceptions.connection import ConfigurationError
from document_exceptions.contract import FIELD_SPECS, FIELDS, ValidationError
from document_exceptions.names import KAFKA_AUTH_IAM, KAFKA_AUTH_SCRAM
from document_exceptions.ops.aws import (
    QUEUE_URL_OUTPUT,
    ClientFactory,
    StackOutputs,
    boto3_client_factory,
    share_region_with_kafka_signer,
)
from document_exceptions.ops.errors import OpsError, UsageError
from document_exceptions.ops.text import printable, printable_json

if TYPE_CHECKING:
    from document_exceptions.ops.replay import Queues

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PROG = "document-exceptions"
DISTRIBUTION = "document-exceptions"
HELP_WIDTH = 78
DEFAULT_REGION_HELP = "AWS_REGION, then your AWS config"
# Contract fields that must equal the configuration: set by --topic, not by field flags.
CONFIGURED_FIELDS = frozenset({"topic", "key"})


# --- argument parsing -----------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _sample_size(text: str) -> int:
    from document_exceptions.ops.replay import MAX_PEEK  # noqa: PLC0415

    value = int(text)
    if not 0 <= value <= MAX_PEEK:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and {MAX_PEEK}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _add_seconds_option(
    parser: argparse._ActionsContainer, flag: str, help: str, default: float | None = None
) -> None:
    """A positive number of seconds; `help` says what it bounds and its default."""
    parser.add_argument(flag, type=_seconds, default=default, metavar="SECONDS", help=help)


def _add_match_option(group: argparse._ActionsContainer, flag: str, dest: str, field: str) -> None:
    """A repeatable filter: only messages whose `field` is one of the values given."""
    group.add_argument(
        flag,
        dest=dest,
        action="append",
        default=[],
        metavar=field.upper(),
        help=f"only this {field} (repeatable)",
    )


def _aws_options(*, stack_help: str, region_default: str) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("deployed environment")
    group.add_argument("--stack", metavar="NAME", help=stack_help)
    group.add_argument("--region", help=f"AWS region of the stack (default: {region_default})")
    group.add_argument("--profile", help="AWS named profile (default: your AWS config)")
    return parent


def _kafka_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("Kafka")
    group.add_argument(
        "--topic", help="topic (default: stack output TopicName, KAFKA_TOPIC, DocumentExceptions)"
    )
    group.add_argument(
        "--cafile",
        metavar="PATH",
        help="CA bundle for the brokers' TLS certificates (default: KAFKA_SSL_CAFILE, or the "
        "system's trusted CAs, which is right for MSK)",
    )
    group.add_argument(
        "--config",
        metavar="PATH",
        dest="config_file",
        help="the guide's config.json with the KAFKA_* settings (environment variables win)",
    )
    group.add_argument(
        "--auth",
        choices=(KAFKA_AUTH_IAM, KAFKA_AUTH_SCRAM),
        help="with --stack: sign in with your AWS credentials (iam, the IAM broker string) or "
        "the stack's SCRAM secret (scram) (default: KAFKA_AUTH_MODE, else the stack's "
        "KafkaAuthMode output, else scram)",
    )
    return parent


def _described(description: str, *examples: str) -> dict[str, Any]:
    """``add_parser`` arguments: the description wrapped, then example command lines kept
    as written (one command a line, ready to copy)."""
    lines = "\n".join(f"  {PROG} {example}" for example in examples)
    return {
        "description": textwrap.fill(description, HELP_WIDTH),
        "epilog": f"examples:\n{lines}",
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operator commands for the document-exceptions Kafka topic and producer.",
        epilog="Run `document-exceptions COMMAND --help` for each command's options.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show kafka-python's and boto's log"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    aws = _aws_options(
        stack_help="CloudFormation stack of the environment, e.g. DocumentExceptions-dev "
        "(default: the local KAFKA_* settings)",
        region_default=DEFAULT_REGION_HELP,
    )
    kafka_options = _kafka_options()

    tail = commands.add_parser(
        "tail",
        parents=[aws, kafka_options],
        help="follow the topic, filtered, as a table or JSON lines",
        **_described(
            "Print the topic's messages as they arrive (from the end of each "
            "partition unless --from-beginning or --since), as a table or as JSON lines. "
            "Uses no consumer group: commits nothing, disturbs no other consumer. Control "
            "characters in messages are printed escaped (\\x1b), never sent to the terminal.",
            "tail --type access_denied --since 15m",
            "tail --stack DocumentExceptions-dev --region eu-west-1 --from-beginning --to-end "
            "--json | jq .order_req_id",
        ),
    )
    chosen = tail.add_argument_group("which messages")
    _add_match_option(chosen, "--type", "types", "exception_type")
    _add_match_option(chosen, "--order", "orders", "order_req_id")
    _add_match_option(chosen, "--user", "users", "user_id")
    chosen.add_argument(
        "--since",
        metavar="WHEN",
        help="messages at or after WHEN: ISO 8601 (2025-10-21T10:30:00Z; no zone means UTC) "
        "or a duration back from now (90s, 15m, 2h, 1d)",
    )
    chosen.add_argument(
        "--from-beginning", action="store_true", help="start at the first record of each partition"
    )
    stop = tail.add_argument_group("output and stopping")
    stop.add_argument(
        "--json", action="store_true", help="one message per line, exactly as on the topic"
    )
    stop.add_argument(
        "--max-messages", type=_positive_int, metavar="N", help="stop after N matching messages"
    )
    _add_seconds_option(stop, "--timeout", "stop after SECONDS (default: never)")
    stop.add_argument(
        "--to-end",
        action="store_true",
        help="stop once every partition is read up to where it ended when tail started "
        "(messages produced later are not waited for); with --from-beginning: print what "
        "the topic holds, then exit",
    )
    _add_seconds_option(
        stop, "--connect-timeout", "give up connecting after SECONDS (default: 10)", 10.0
    )

    send = commands.add_parser(
        "send",
        parents=[aws, kafka_options],
        help="publish one message, validated by the contract",
        **_described(
            "Publish one document-access exception message. Fields come from --file "
            "and/or the field flags (flags win); the contract fills in timestamp, topic, key, "
            "source, http_status_code and additional_context when absent. An invalid message "
            "is not sent: each problem is printed with its field, exit status 2. The topic "
            "must exist (send never creates it). Prints the partition and offset the broker "
            "acknowledged.",
            "send --order-req-id SB1029435 --s3-key documents/user123/contract.pdf "
            "--user-id user123 --exception-type access_denied "
            "--error-message 'User does not have permission'",
            "send --stack DocumentExceptions-dev --region eu-west-1 --file message.json",
        ),
    )
    send.add_argument(
        "--file", metavar="PATH", help="JSON object with the message's fields ('-': stdin)"
    )
    send.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_seconds_option(
        send, "--timeout", "give up if not acknowledged within SECONDS (default: 30)", 30.0
    )
    message_fields = send.add_argument_group(
        "message fields (the contract's; topic and key follow --topic and the configuration)"
    )
    for spec in FIELD_SPECS:
        if spec.name in CONFIGURED_FIELDS:
            continue
        required = " Required (here or in --file)." if spec.required else ""
        message_fields.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=f"field_{spec.name}",
            metavar=spec.name.upper(),
            help=f"{spec.description}{required}".replace("%", "%%"),
        )

    replay = commands.add_parser(
        "replay",
        parents=[
            _aws_options(
                stack_help="CloudFormation stack of the environment, e.g. "
                "DocumentExceptions-dev, whose QueueUrl output names the queue (or give "
                "the queue with --queue-url or --queue-arn)",
                region_default=f"the queue's, then {DEFAULT_REGION_HELP}",
            )
        ],
        help="move messages from the producer's dead-letter queue back to its queue",
        **_described(
            "Start an SQS message move task from the producer's dead-letter queue "
            "back to its queue (the producer Lambda then publishes them again). The queue comes "
            "from the stack's QueueUrl output or the flags; the dead-letter queue from the "
            "queue's redrive policy unless given.",
            "replay --stack DocumentExceptions-dev --region eu-west-1 --dry-run",
            "replay --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/QUEUE --wait",
        ),
    )
    queues = replay.add_argument_group("queues (default: from --stack)")
    queues.add_argument("--queue-url", help="the producer's queue (the move's destination)")
    queues.add_argument("--queue-arn", help="the producer's queue, by ARN")
    queues.add_argument("--dlq-url", help="the dead-letter queue (default: the queue's)")
    queues.add_argument("--dlq-arn", help="the dead-letter queue, by ARN")
    action = replay.add_mutually_exclusive_group()
    action.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would move (approximate count, a few message ids); move nothing",
    )
    action.add_argument(
        "--status", action="store_true", help="list the dead-letter queue's recent move tasks"
    )
    action.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the dead-letter queue's running move task (messages already moved stay "
        "in the queue; the rest stay in the dead-letter queue)",
    )
    replay.add_argument(
        "--max-per-second", type=_positive_int, metavar="N", help="move at most N messages/s"
    )
    replay.add_argument(
        "--sample",
        type=_sample_size,
        default=5,
        metavar="N",
        help="message ids shown by --dry-run (0-10, default: 5)",
    )
    replay.add_argument(
        "--force", action="store_true", help="start a task even if the DLQ looks empty"
    )
    replay.add_argument("--wait", action="store_true", help="wait for the task to finish")
    _add_seconds_option(
        replay, "--poll-interval", "with --wait: seconds between status checks (default: 5)", 5.0
    )
    _add_seconds_option(
        replay, "--wait-timeout", "with --wait: give up waiting after SECONDS (default: 900)", 900.0
    )

    doctor = commands.add_parser(
        "doctor",
        parents=[aws, kafka_options],
        help="check the secret (SCRAM), DNS, the login (IAM or SCRAM) and the topic",
        **_described(
            "Check, from a deployed environment's outputs (or the local KAFKA_* "
            "settings): the brokers resolve, accept TLS and the login (AWS_MSK_IAM where the "
            "stack uses IAM; SASL/SCRAM with a readable secret otherwise), and the topic exists "
            "with the configured partitions. Prints "
            "each check with what to check on failure; exit status 1 if any failed.",
            "doctor --stack DocumentExceptions-dev --region eu-west-1",
            "doctor --config config.json --partitions 3",
        ),
    )
    doctor.add_argument(
        "--partitions",
        type=_positive_int,
        metavar="N",
        help="expected partitions (default: stack output TopicPartitions, or 3)",
    )
    _add_seconds_option(
        doctor, "--timeout", "bound for the DNS and Kafka checks, each (default: 10)", 10.0
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


# --- running ----------------------------------------------------------------------------------


class _Context:
    def __init__(self, args: argparse.Namespace, client_factory: ClientFactory | None) -> None:
        self.args = args
        self.region: str | None = getattr(args, "region", None)
        self._client_factory = client_factory

    def client_factory(self) -> ClientFactory:
        if self._client_factory is None:
            try:
                self._client_factory = boto3_client_factory(
                    self.region, getattr(self.args, "profile", None)
                )
            except OpsError:
                raise
            except ImportError:
                raise OpsError(
                    "boto3 is not installed", "pip install 'document-exceptions[aws]'"
                ) from None
            except Exception as exc:  # botocore ProfileNotFound and friends
                raise OpsError(f"AWS configuration: {exc}", "--profile and --region") from None
            share_region_with_kafka_signer(
                self.region, getattr(self.args, "profile", None), os.environ
            )
        return self._client_factory

    def stack_factory(self) -> ClientFactory | None:
        return self.client_factory() if getattr(self.args, "stack", None) else None


def _symbols() -> dict[str, str]:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return {"ok": "OK  ", "failed": "FAIL", "skipped": "--  "}
    return {"ok": "✓", "failed": "✗", "skipped": "-"}


def run_tail(context: _Context) -> int:
    from document_exceptions.ops.tail import (  # noqa: PLC0415 - each command loads what it uses
        JsonLinesPrinter,
        TablePrinter,
        TailFilter,
        TailSummary,
        parse_since,
        tail,
    )
    from document_exceptions.ops.target import resolve_target  # noqa: PLC0415

    args = context.args
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"{PROG} tail: error: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    target = resolve_target(
        stack=args.stack,
        client_factory=context.stack_factory(),
        topic=args.topic,
        cafile=args.cafile,
        config_file=args.config_file,
        auth=args.auth,
    )
    match = TailFilter(
        exception_types=frozenset(args.types),
        order_req_ids=frozenset(args.orders),
        user_ids=frozenset(args.users),
        since=since,
    )
    printer = JsonLinesPrinter() if args.json else TablePrinter()
    start = "the beginning" if args.from_beginning else args.since or "the end"
    until = " up to the current end" if args.to_end else ""

    def ready(summary: TailSummary) -> None:
        print(
            f"tailing {target.topic} ({target.description}), partitions "
            f"{', '.join(map(str, summary.partitions))}, from {start}{until}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    summary = tail(
        target.connection(),
        target.topic,
        printer,
        match=match,
        from_beginning=args.from_beginning,
        max_messages=args.max_messages,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        on_ready=ready,
        to_end=args.to_end,
        deployed=target.deployed,
    )
    print(
        f"{summary.shown} shown, {summary.filtered_out} filtered out, "
        f"{summary.unreadable} unreadable (partitions "
        f"{', '.join(map(str, summary.partitions))}; stopped by {summary.stopped_by})",
        file=sys.stderr,
    )
    return EXIT_OK


def run_send(context: _Context) -> int:
    from document_exceptions.ops.send import (  # noqa: PLC0415
        load_message_file,
        prepare,
        send_message,
    )
    from document_exceptions.ops.target import resolve_target  # noqa: PLC0415

    args = context.args
    flag_values = {
        name: getattr(args, f"field_{name}") for name in FIELDS if name not in CONFIGURED_FIELDS
    }
    file_fields = load_message_file(args.file) if args.file else None
    if file_fields is None and all(value is None for value in flag_values.values()):
        print(
            f"{PROG} send: error: no message: give --file or the field flags (--help)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    target = resolve_target(
        stack=args.stack,
        client_factory=context.stack_factory(),
        topic=args.topic,
        cafile=args.cafile,
        config_file=args.config_file,
        auth=args.auth,
    )
    record = prepare(file_fields, flag_values, target.contract)  # invalid: never connects
    result = send_message(
        target.resolver,
        target.contract,
        record,
        timeout_s=args.timeout,
        deployed=target.deployed,
    )
    if args.json:
        print(printable_json(json.dumps(result.to_dict(), ensure_ascii=False)))
    else:
        message = result.record.message
        print(
            f"published to {result.topic} partition {result.partition} offset {result.offset} "
            f"({printable(message['exception_type'])}, "
            f"order {printable(str(message['order_req_id']))}, timestamp {message['timestamp']})"
        )
        if result.record.truncated:
            print(f"truncated to fit: {', '.join(result.record.truncated)}")
    return EXIT_OK


def run_replay(context: _Context) -> int:
    from document_exceptions.ops.replay import (  # noqa: PLC0415
        check_queue_arguments,
        describe_task,
        list_moves,
        preview,
        resolve_queues,
        start_move,
        wait_for_move,
    )

    args = context.args
    context.region = check_queue_arguments(  # before any client: a usage error costs nothing
        stack=args.stack,
        region=args.region,
        queue_url=args.queue_url,
        queue_arn_=args.queue_arn,
        dead_letter_url=args.dlq_url,
        dead_letter_arn_=args.dlq_arn,
    )
    factory = context.client_factory()
    queue_url = args.queue_url
    if args.stack and not (args.queue_url or args.queue_arn):
        queue_url = StackOutputs.load(factory("cloudformation"), args.stack).require(
            QUEUE_URL_OUTPUT, "--queue-url"
        )
    sqs = factory("sqs")
    queues = resolve_queues(
        sqs,
        queue_url=queue_url,
        queue_arn_=args.queue_arn,
        dead_letter_url=args.dlq_url,
        dead_letter_arn_=args.dlq_arn,
    )
    print(f"dead-letter queue: {queues.dead_letter_arn}")
    print(f"back to queue:     {queues.queue_arn}")
    if args.status:
        tasks = list_moves(sqs, queues)
        if not tasks:
            print("no message move tasks")
        for task in tasks:
            print(f"  {describe_task(task)}")
        return EXIT_OK
    if args.cancel:
        return _cancel_replay(sqs, queues, args)
    seen = preview(sqs, queues, sample=args.sample if args.dry_run else 0)
    in_flight = f" (+{seen.in_flight} in flight, not visible now)" if seen.in_flight else ""
    if args.dry_run:
        print(f"would move about {seen.approximate} messages{in_flight}")
        for message in seen.sample:
            print(
                f"  {message.message_id}  sent {message.sent or '?'}  "
                f"receives {message.receive_count or '?'}  "
                f"order {message.order_req_id or '?'}  type {message.exception_type or '?'}"
            )
        print("dry run: nothing moved")
        return EXIT_OK
    if seen.approximate == 0 and not seen.in_flight and not args.force:
        print("nothing to replay: the dead-letter queue is empty (--force starts a task anyway)")
        return EXIT_OK
    handle = start_move(sqs, queues, args.max_per_second)
    print(f"started message move task for about {seen.approximate} messages{in_flight}")
    print(f"task handle: {handle}")
    if not args.wait:
        print(f"follow it with: {PROG} replay --status" + _stack_flags(args))
        return EXIT_OK
    task = wait_for_move(
        sqs,
        queues,
        timeout_s=args.wait_timeout,
        poll_s=args.poll_interval,
        on_progress=lambda task: print(f"  {describe_task(task)}", flush=True),
    )
    return EXIT_OK if task.get("Status") == "COMPLETED" else EXIT_FAILED


def _cancel_replay(sqs: Any, queues: Queues, args: argparse.Namespace) -> int:
    """Cancel the dead-letter queue's running move task; none running is nothing to do."""
    from document_exceptions.ops.replay import (  # noqa: PLC0415
        cancel_move,
        describe_task,
        running_move,
    )

    running = running_move(sqs, queues)
    if running is None:
        print("no message move task is running: nothing to cancel")
        return EXIT_OK
    print(f"cancelling {describe_task(running)}")
    cancelled = cancel_move(sqs, running)
    moved = "?" if cancelled.moved is None else cancelled.moved
    of = "" if cancelled.to_move is None else f" of {cancelled.to_move}"
    print(
        f"cancelled task {cancelled.task_handle}: {moved}{of} messages had already moved "
        "back to the queue; the rest stay in the dead-letter queue"
    )
    print(f"follow it with: {PROG} replay --status" + _stack_flags(args))
    return EXIT_OK


def _stack_flags(args: argparse.Namespace) -> str:
    flags = ""
    for name in ("stack", "region", "profile", "queue_url", "queue_arn", "dlq_url", "dlq_arn"):
        value = getattr(args, name, None)
        if value:
            flags += f" --{name.replace('_', '-')} {value}"
    return flags


def run_doctor(context: _Context) -> int:
    from document_exceptions.ops.doctor import Check, Doctor, DoctorOptions  # noqa: PLC0415

    args = context.args
    symbols = _symbols()

    def show(check: Check) -> None:
        if args.json:
            return
        detail = printable(check.detail)  # may quote what a broker or AWS answered
        print(f"{symbols[check.status]} {check.name:<44} {detail}", flush=True)
        if check.hint and check.status == "failed":
            print(f"    check: {printable(check.hint)}", flush=True)

    client_factory = context.stack_factory()  # no region: one line, before any output
    where = f"stack {args.stack}" if args.stack else "local KAFKA_* settings"
    if not args.json:
        print(f"doctor: {where}")
    doctor = Doctor(
        DoctorOptions(
            stack=args.stack,
            topic=args.topic,
            partitions=args.partitions,
            cafile=args.cafile,
            config_file=args.config_file,
            timeout_s=args.timeout,
            auth=args.auth,
        ),
        client_factory=client_factory,
        environ=os.environ,
        on_check=show,
    )
    checks = doctor.run()
    failed = sum(1 for check in checks if check.status == "failed")
    if args.json:
        print(json.dumps({"healthy": doctor.healthy, "checks": [c.to_dict() for c in checks]}))
    elif failed:
        print(f"{failed} of {len(checks)} checks failed")
    else:
        print(f"all {len(checks)} checks passed")
    return EXIT_OK if doctor.healthy else EXIT_FAILED


COMMANDS = {"tail": run_tail, "send": run_send, "replay": run_replay, "doctor": run_doctor}


@contextmanager
def _kafka_log(verbose: bool) -> Iterator[None]:
    """kafka-python logs every retry; show that only with --verbose (never the password:
    it is logged at DEBUG only, which stays off)."""
    handler: logging.Handler = (
        logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler()
    )
    handler.setLevel(logging.INFO)
    quiet = [
        logging.getLogger(name) for name in ("kafka", "botocore", "boto3", "document_exceptions")
    ]
    previous = [(logger, logger.propagate, logger.level) for logger in quiet]
    for logger in quiet:
        logger.addHandler(handler)
        logger.propagate = False
        if verbose and logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, propagate, level in previous:
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


def main(argv: Sequence[str] | None = None, *, client_factory: ClientFactory | None = None) -> int:
    """Run one command; returns the exit status. ``client_factory`` replaces boto3's clients
    (tests: botocore Stubber)."""
    args = build_parser().parse_args(argv)
    context = _Context(args, client_factory)
    command = f"{PROG} {args.command}"
    with _kafka_log(args.verbose):
        try:
            return COMMANDS[args.command](context)
        except ValidationError as exc:
            print(f"{command}: the message breaks the contract, not sent:", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error.field}: {error.problem}", file=sys.stderr)
            return EXIT_USAGE
        except UsageError as exc:
            print(f"{command}: error: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
        except OpsError as exc:
            print(f"{command}: error: {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"  check: {exc.hint}", file=sys.stderr)
            return EXIT_FAILED
        except ConfigurationError as exc:
            print(f"{command}: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print(f"{command}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
