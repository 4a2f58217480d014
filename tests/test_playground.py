"""`make broker` end to end: start it as a user would, run the README's "Try it locally"
commands against it with the exports it wrote, and read the message back."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.playground_process import REPO_ROOT, clean_environment, running_playground

pytestmark = pytest.mark.timeout(120)


def readme_commands() -> list[list[str]]:
    """The `document-exceptions ...` lines of the README's "Try it locally" section."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it locally", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    assert any(line.startswith("make broker") for line in lines)
    assert any(line.startswith("source .demo/broker.env") for line in lines)
    return [shlex.split(line) for line in lines if line.startswith("document-exceptions ")]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / command[0]
    return subprocess.run(
        [str(executable), *command[1:]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("options", "protocol"), [((), "SASL_SSL"), (("--plaintext",), "PLAINTEXT")]
)
def test_the_readme_commands_work_against_make_broker_and_read_the_message_back(
    tmp_path, options, protocol
):
    commands = readme_commands()
    assert [command[1] for command in commands] == ["doctor", "send", "tail"]

    with running_playground(tmp_path, *options) as playground:
        assert stat.S_IMODE(os.stat(playground.env_file).st_mode) == 0o600
        exports = playground.exports
        assert exports["KAFKA_SECURITY_PROTOCOL"] == protocol
        assert exports["KAFKA_TOPIC"] == "DocumentExceptions"
        printed = "\n".join(playground.output)
        if protocol == "SASL_SSL":
            assert exports["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
            assert f"export KAFKA_SASL_PASSWORD={exports['KAFKA_SASL_PASSWORD']}" in printed
        else:
            assert "KAFKA_SASL_PASSWORD" not in exports
        assert "Topic DocumentExceptions (3 partitions" in printed
        env = {**clean_environment(), **exports}

        doctor, send, tail = (run(command, env) for command in commands)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "topic DocumentExceptions" in doctor.stdout
        assert "3 partitions" in doctor.stdout
        assert send.returncode == 0, send.stdout + send.stderr
        assert "published to DocumentExceptions partition" in send.stdout
        assert tail.returncode == 0, tail.stdout + tail.stderr
        assert "SB1029435" in tail.stdout
        assert "file_not_found" in tail.stdout
        assert "1 shown" in tail.stderr + tail.stdout

        as_json = run([*commands[2], "--json"], env)
        [message] = [json.loads(line) for line in as_json.stdout.splitlines() if line.strip()]
        assert message["order_req_id"] == "SB1029435"
        assert message["error_message"] == "Document not found in S3"

    assert playground.process.returncode == 0, "\n".join(playground.output)
    assert playground.output[-1] == "Broker stopped."
    assert not playground.env_file.exists()
