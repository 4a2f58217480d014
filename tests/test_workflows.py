""".github/workflows/: actionlint and zizmor clean, actions pinned, least permissions, and the
make targets each job calls equal to the README's "Continuous integration" table (and real
Makefile targets), so the workflows and the documentation cannot drift apart.

zizmor runs with `--offline`: its online audits (known-vulnerable action versions, impostor
commits) need the GitHub API, which tests never call.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack_fixtures import ENVIRONMENTS

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: (\S+) # v\d+\.\d+\.\d+$")
MAKE_CALL = re.compile(r"\bmake\b(?:\s+-C\s+\S+|\s+--no-print-directory)*\s+([a-z][a-z-]*)")


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def make_targets(job: dict[str, Any]) -> list[str]:
    """The make targets a job's `run:` steps call, in order."""
    return [
        target for step in job.get("steps", []) for target in MAKE_CALL.findall(step.get("run", ""))
    ]


def readme_ci_table() -> dict[tuple[str, str], list[str]]:
    """(workflow file, job) -> make targets, from the README's "Continuous integration" table."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Continuous integration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith(".yml`"):
            workflow, job, _trigger, targets = cells
            rows[(workflow.strip("`"), job.strip("`"))] = re.findall(r"`([a-z-]+)`", targets)
    return rows


def test_there_are_workflows():
    assert [path.name for path in WORKFLOW_FILES] == ["deploy.yml", "pull-request.yml"]


def test_actionlint_is_clean():
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *map(str, WORKFLOW_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - uses: actions/checkout@v9\n        with: {nonsense: 1}\n"
    )
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            str(BIN / "zizmor"),
            "--offline",
            "--persona",
            "pedantic",
            "--format",
            "json",
            "--no-exit-codes",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_zizmor_is_clean_offline():
    findings = zizmor(*WORKFLOW_FILES)
    assert [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings] == []


def test_zizmor_catches_a_risky_workflow(tmp_path):
    risky = tmp_path / "risky.yml"
    risky.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
    )
    idents = {finding["ident"] for finding in zizmor(risky)}
    assert {"dangerous-triggers", "excessive-permissions", "unpinned-uses"} <= idents


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actions_are_pinned_by_commit_with_the_version_in_a_comment(path):
    uses = [
        step["uses"]
        for job in load(path)["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]
    assert uses
    assert [action for action in uses if not PINNED.match(action)] == []
    commented = {
        match.group(1)
        for line in path.read_text().splitlines()
        if (match := VERSION_COMMENT.search(line))
    }
    assert set(uses) <= commented
    # One version of each action across the workflows.
    by_action: dict[str, set[str]] = {}
    for action in uses:
        name, sha = action.split("@")
        by_action.setdefault(name, set()).add(sha)
    assert all(len(shas) == 1 for shas in by_action.values()), by_action


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_least_permissions_per_job(path):
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} sets no permissions"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= {"id-token", "pull-requests"}, (name, writes)
        if writes:
            assert "aws-actions/configure-aws-credentials" in str(job["steps"]), name


def test_workflows_call_the_make_targets_the_readme_documents():
    documented = readme_ci_table()
    called = {
        (path.name, job_name): list(dict.fromkeys(make_targets(job)))
        for path in WORKFLOW_FILES
        for job_name, job in load(path)["jobs"].items()
    }
    assert called == documented


def test_every_make_target_called_exists():
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    called = {
        t
        for path in WORKFLOW_FILES
        for job in load(path)["jobs"].values()
        for t in make_targets(job)
    }
    assert called
    assert called <= targets


def test_pull_requests_synthesize_every_environment():
    workflow = load(WORKFLOWS / "pull-request.yml")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    assert workflow["jobs"]["synth"]["strategy"]["matrix"]["env"] == list(ENVIRONMENTS)
    checks_without_aws = ("test", "synth", "snapshots", "security-diff")
    for name in checks_without_aws:
        job = workflow["jobs"][name]
        assert job["permissions"] == {"contents": "read"}
        assert "configure-aws-credentials" not in str(job["steps"])


def test_deployed_diff_is_skipped_without_diff_roles():
    job = load(WORKFLOWS / "pull-request.yml")["jobs"]["deployed-diff"]
    for env in ENVIRONMENTS:
        assert f"vars.AWS_DIFF_ROLE_ARN_{env.upper()} != ''" in job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    credential_steps = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert len(credential_steps) == len(ENVIRONMENTS)
    assert all(step["if"].startswith("vars.AWS_DIFF_ROLE_ARN_") for step in credential_steps)


def test_one_deploy_job_per_environment_preflight_first():
    workflow = load(WORKFLOWS / "deploy.yml")
    assert set(workflow["on"]) == {"workflow_dispatch", "push"}
    assert workflow["on"]["push"] == {"branches": ["main"]}
    options = workflow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
    assert options == list(ENVIRONMENTS)
    assert list(workflow["jobs"]) == list(ENVIRONMENTS)
    for env, job in workflow["jobs"].items():
        assert job["environment"] == env
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        runs = [step["run"] for step in job["steps"] if "run" in step]
        assert runs == [
            f"make preflight ENV={env} PREFLIGHT_FLAGS=--via-lookup-role",
            f"make deploy ENV={env} REQUIRE_APPROVAL=never",
        ]
        assert f"inputs.environment == '{env}'" in job["if"]
    assert "vars.DEPLOY_DEV_ON_MERGE == 'true'" in workflow["jobs"]["dev"]["if"]
    assert "push" not in workflow["jobs"]["prod"]["if"]
