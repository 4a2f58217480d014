"""Base-versus-head infrastructure diff of a pull request, as Markdown for the job summary.

    python -m tools.security_diff --base base/cdk.out --head cdk.out [--output FILE]

Both arguments are synthesized cloud assemblies (`make synth` on the base commit and on the pull
request). For every stack, `cdk diff --app HEAD --template BASE_TEMPLATE --security-only
--fail-on broadening` gives the IAM and security-group changes and whether they widen access
(exit status 1), and `cdk diff --template` gives the whole diff. A stack new in head is compared
with an empty template; a stack gone from head is listed. When any stack broadens security the
Markdown says so in its first lines. No AWS call: the CLI only compares the two templates.

Writes to `--output`, else to $GITHUB_STEP_SUMMARY (appending, as GitHub expects), else to stdout.
Exit status 0 whatever the diff says (the summary informs the reviewer; it does not gate), 2
when an assembly cannot be read or the CDK CLI fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK = ("npx", "--no-install", "cdk")
STACK_ARTIFACT = "aws:cloudformation:stack"
# The CLI's own framing around a diff, which says nothing a reader of the summary needs.
_FRAMING = re.compile(
    r"^(Stack \S+|✨ +Number of stacks with differences: \d+|"
    r"This deployment will make potentially sensitive changes.*|"
    r"Please confirm you intend to make the following modifications:)$"
)
_QUIET_CLI = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}


class DiffError(RuntimeError):
    """An assembly could not be read or the CDK CLI failed."""


@dataclass(frozen=True)
class StackDiff:
    stack: str
    status: str  # "changed", "unchanged", "new", "removed"
    broadens: bool = False
    security: str = ""
    full: str = ""


def stack_templates(assembly: Path) -> dict[str, Path]:
    """Stack name -> template file of a synthesized cloud assembly (its manifest.json)."""
    try:
        manifest = json.loads((assembly / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise DiffError(f"{assembly}: not a synthesized cloud assembly ({error})") from error
    return {
        artifact.get("displayName", name): assembly / artifact["properties"]["templateFile"]
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == STACK_ARTIFACT
    }


def run_cdk(arguments: Sequence[str], cdk: Sequence[str] = CDK) -> tuple[int, str]:
    """One CDK CLI run from the repository root: exit status and its output, framing removed."""
    result = subprocess.run(
        [*cdk, *arguments],
        cwd=REPO_ROOT,
        env={"CDK_HOME": str(REPO_ROOT / ".cdk-home"), **os.environ, **_QUIET_CLI},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise DiffError(f"cdk {' '.join(arguments)} failed: {result.stderr.strip()[-2000:]}")
    lines = [
        line for line in (result.stdout + result.stderr).splitlines() if not _FRAMING.match(line)
    ]
    return result.returncode, "\n".join(lines).strip()


def diff_stack(stack: str, head: Path, base_template: Path, cdk: Sequence[str] = CDK) -> StackDiff:
    common = ["diff", "--app", str(head), "--template", str(base_template)]
    # Two independent CLI runs (each mostly Node start-up): run them side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        security_run = pool.submit(
            run_cdk, [*common, "--security-only", "--fail-on", "broadening", stack], cdk
        )
        full_run = pool.submit(run_cdk, [*common, "--fail", stack], cdk)
        status, security = security_run.result()
        changed, full = full_run.result()
    return StackDiff(
        stack=stack,
        status="changed" if changed else "unchanged",
        broadens=status == 1,
        security=security,
        full=full,
    )


def bare_assembly(templates: dict[str, Path], folder: Path, version: str) -> Path:
    """A cloud assembly of just the stacks' templates in `folder`: without the synthesized
    metadata, the CLI prints no construct annotations (warnings) into the diff."""
    folder.mkdir()
    artifacts = {}
    for stack, template in templates.items():
        (folder / template.name).write_bytes(template.read_bytes())
        artifacts[stack] = {
            "type": STACK_ARTIFACT,
            "environment": "aws://unknown-account/unknown-region",
            "properties": {"templateFile": template.name},
        }
    manifest = {"version": version, "artifacts": artifacts}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def diff_assemblies(base: Path, head: Path, cdk: Sequence[str] = CDK) -> list[StackDiff]:
    base_stacks = stack_templates(base)
    head_stacks = stack_templates(head)
    diffs = []
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.template.json"
        empty.write_text("{}\n")
        version = json.loads((head / "manifest.json").read_text())["version"]
        bare_head = bare_assembly(head_stacks, Path(scratch) / "head", version)
        for stack in sorted(head_stacks):
            found = diff_stack(stack, bare_head, base_stacks.get(stack, empty), cdk)
            if stack not in base_stacks:
                found = StackDiff(stack, "new", found.broadens, found.security, found.full)
            diffs.append(found)
    diffs += [StackDiff(stack, "removed") for stack in sorted(set(base_stacks) - set(head_stacks))]
    return diffs


def render(diffs: Sequence[StackDiff], title: str = "Infrastructure diff") -> str:
    """Markdown: the verdict first, then a table, then each stack's security and full diff."""
    broadening = [diff.stack for diff in diffs if diff.broadens]
    lines = [f"## {title}", ""]
    if broadening:
        lines += [
            "> [!WARNING]",
            f"> **This pull request broadens security** in {', '.join(broadening)}: IAM or "
            "security-group changes widen access. Review them below before merging.",
        ]
    else:
        lines.append("No IAM or security-group change in this pull request broadens access.")
    lines += ["", "| stack | change | broadens security |", "|---|---|---|"]
    for diff in diffs:
        broadens = "**yes**" if diff.broadens else ("-" if diff.status == "removed" else "no")
        lines.append(f"| {diff.stack} | {diff.status} | {broadens} |")
    for diff in diffs:
        if diff.status in ("unchanged", "removed"):
            continue
        lines += ["", f"### {diff.stack}", ""]
        if diff.security:
            lines += ["Broadened IAM and security-group access (`cdk diff --security-only`):", ""]
            lines += _fenced(diff.security)
        else:
            lines.append("Nothing here broadens IAM or security-group access.")
        lines += ["", "<details><summary>Full diff</summary>", ""]
        lines += [*_fenced(diff.full), "", "</details>"]
    return "\n".join(lines) + "\n"


def _fenced(text: str) -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [f"{fence}text", text, fence]


def main(argv: list[str] | None = None, cdk: Sequence[str] = CDK) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.security_diff", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--base", type=Path, required=True, help="cloud assembly of the base")
    parser.add_argument("--head", type=Path, required=True, help="cloud assembly of the head")
    parser.add_argument("--output", type=Path, help="default: $GITHUB_STEP_SUMMARY, else stdout")
    parser.add_argument("--title", default="Infrastructure diff")
    args = parser.parse_args(argv)
    try:
        markdown = render(diff_assemblies(args.base, args.head, cdk), args.title)
    except DiffError as error:
        print(f"security diff failed: {error}", file=sys.stderr)
        return 2
    output = args.output or (
        Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None
    )
    if output is None:
        sys.stdout.write(markdown)
    else:
        with output.open("a", encoding="utf-8") as summary:
            summary.write(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
