"""tools/security_diff.py: the real CDK CLI on fixture assemblies (tests/fixtures/security_diff).

base -> head: `Steady` changes a queue's retention (no security change), `Widened` adds SQS
actions to a policy and opens 9096 to 0.0.0.0/0, `Narrowed` removes an ingress rule and a
managed policy, `Added` is a new stack with a role, `Retired` is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import security_diff
from tools.security_diff import StackDiff

FIXTURES = Path(__file__).parent / "fixtures" / "security_diff"
BASE = FIXTURES / "base"
HEAD = FIXTURES / "head"


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> str:
    output = tmp_path_factory.mktemp("summary") / "summary.md"
    output.write_text("earlier step\n")
    assert (
        security_diff.main(["--base", str(BASE), "--head", str(HEAD), "--output", str(output)]) == 0
    )
    text = output.read_text()
    assert text.startswith("earlier step\n## Infrastructure diff\n")  # appended, like a job summary
    return text.removeprefix("earlier step\n")


def section(summary: str, stack: str) -> str:
    return summary.split(f"\n### {stack}\n", 1)[1].split("\n### ", 1)[0]


def test_broadening_is_said_at_the_top(summary):
    lines = summary.splitlines()
    assert lines[2] == "> [!WARNING]"
    assert lines[3].startswith(
        "> **This pull request broadens security** in Added, Widened: IAM or security-group"
    )


def test_table_lists_every_stack_with_its_change(summary):
    assert (
        "| Added | new | **yes** |\n"
        "| Narrowed | changed | no |\n"
        "| Steady | changed | no |\n"
        "| Widened | changed | **yes** |\n"
        "| Retired | removed | - |\n"
    ) in summary


def test_security_changes_are_called_out(summary):
    widened = section(summary, "Widened")
    security = widened.split("<details>", 1)[0]
    assert "IAM Statement Changes" in security
    assert "sqs:DeleteMessage" in security
    assert "Security Group Changes" in security
    assert "Everyone (IPv4)" in security
    assert "Resources" not in security  # the non-security part stays in the full diff
    assert "[~] AWS::EC2::SecurityGroup Brokers" in widened.split("<details>", 1)[1]


def test_a_change_without_security_impact_says_so(summary):
    steady = section(summary, "Steady")
    assert steady.startswith("\nNothing here broadens IAM or security-group access.\n")
    assert "MessageRetentionPeriod" in steady


def test_cli_framing_is_left_out(summary):
    assert "Number of stacks with differences" not in summary
    assert "Please confirm" not in summary
    assert "\x1b[" not in summary  # no terminal colours in Markdown


def test_narrowing_access_is_shown_but_not_broadening(summary):
    security, full = section(summary, "Narrowed").split("<details>", 1)
    assert security == "\nNothing here broadens IAM or security-group access.\n\n"
    assert "│ - │ ${Brokers.GroupId} │ In  │ TCP 9096 │ 10.1.0.0/16 │" in full
    assert "[-] AWS::IAM::ManagedPolicy Sender" in full


def test_no_broadening_verdict():
    markdown = security_diff.render(
        [
            StackDiff("A", "changed", False, "", "Resources\n[~] AWS::SQS::Queue Q"),
            StackDiff("B", "unchanged"),
        ]
    )
    assert markdown.splitlines()[2] == (
        "No IAM or security-group change in this pull request broadens access."
    )
    assert "### B" not in markdown


def test_fences_survive_backticks_in_a_diff():
    markdown = security_diff.render([StackDiff("A", "changed", False, "", "has ``` inside")])
    assert "````text\nhas ``` inside\n````" in markdown


def test_unreadable_assembly_exits_two(tmp_path, capsys):
    assert security_diff.main(["--base", str(tmp_path), "--head", str(HEAD)]) == 2
    assert "not a synthesized cloud assembly" in capsys.readouterr().err


def test_writes_to_the_github_step_summary(tmp_path, monkeypatch):
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert security_diff.main(["--base", str(HEAD), "--head", str(HEAD)], cdk=("true",)) == 0
    assert summary.read_text().startswith("## Infrastructure diff\n\nNo IAM or security-group")
