"""Synthesized templates against the committed snapshots in tests/snapshots/.

Every infrastructure change shows up here as a reviewable diff. Asset hashes are masked in
the comparison (Lambda code changes alone do not fail it); the snapshot files keep them, so
`npx cdk diff --app cdk.out --template tests/snapshots/<stack>.json --fail <stack>` works too.

Refresh after an intended change: `UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path

import pytest

from stacks.ci_stack import CiAccessStack
from tests.stack_fixtures import ENVIRONMENTS, KAFKA3_VERSION

SNAPSHOTS = Path(__file__).parent / "snapshots"
# Kafka 3.x variants of the environments (not deployed as such; tests/stack_fixtures.py).
VARIANT_SNAPSHOTS = SNAPSHOTS / "kafka3"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
REFRESH = "UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py"


def render(template: dict) -> str:
    return json.dumps(template, indent=1, sort_keys=True) + "\n"


def masked(text: str) -> str:
    return ASSET_HASH.sub("<asset-hash>", text)


def ci_stack_templates(synthesized) -> dict[str, dict]:
    """The CI access stacks app.py adds when `ci.enabled` is true in cdk.json: name -> template."""
    assembly = synthesized.app.synth()
    return {
        stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template
        for stack in synthesized.app.node.children
        if isinstance(stack, CiAccessStack)
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_template_matches_snapshot(env, synthesized):
    check_snapshot(synthesized.stacks[env].stack_name, synthesized.template_json[env])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kafka3_native_topic_variant_matches_snapshot(env, kafka3_variants):
    """A new environment on Kafka 3.x: `AWS::MSK::Topic`, no topic custom resource."""
    variant = kafka3_variants["native"]
    name = f"{variant.stacks[env].stack_name}-kafka-{KAFKA3_VERSION}-native-topic"
    check_snapshot(name, variant.template_json[env], VARIANT_SNAPSHOTS)


def test_every_kafka3_variant_snapshot_belongs_to_a_variant(kafka3_variants):
    variant = kafka3_variants["native"]
    expected = {
        f"{stack.stack_name}-kafka-{KAFKA3_VERSION}-native-topic.json"
        for stack in variant.stacks.values()
    }
    assert {path.name for path in VARIANT_SNAPSHOTS.glob("*.json")} == expected


def test_ci_stacks_match_snapshots(synthesized):
    templates = ci_stack_templates(synthesized)
    if not templates:
        pytest.skip("ci.enabled is false in cdk.json: no CI access stack to snapshot")
    for name, template in templates.items():
        check_snapshot(name, template)


def check_snapshot(stack_name: str, template: dict, folder: Path = SNAPSHOTS) -> None:
    path = folder / f"{stack_name}.json"
    current = render(template)
    if UPDATE:
        folder.mkdir(exist_ok=True)
        path.write_text(current)
    assert path.exists(), f"no snapshot {path.name}; create it with {REFRESH}"
    expected = masked(path.read_text())
    if expected != masked(current):
        diff = difflib.unified_diff(
            expected.splitlines(),
            masked(current).splitlines(),
            path.name,
            "synthesized",
            lineterm="",
        )
        pytest.fail(
            f"{path.name} differs from the synthesized template; review, then run {REFRESH}\n"
            + "\n".join(list(diff)[:200])
        )


def test_every_snapshot_belongs_to_a_stack(synthesized):
    expected = {f"{stack.stack_name}.json" for stack in synthesized.stacks.values()}
    expected |= {f"{name}.json" for name in ci_stack_templates(synthesized)}
    assert {path.name for path in SNAPSHOTS.glob("*.json")} == expected


def test_masking_hides_only_asset_hashes():
    asset = "9b8fce7ae7f25ef82fdbaf6b72523b99d0875c0c9c826642819fb51f11d9b125"
    assert masked(f'{{"S3Key": "{asset}.zip", "Name": "KafkaCluster21A1BE89"}}') == (
        '{"S3Key": "<asset-hash>.zip", "Name": "KafkaCluster21A1BE89"}'
    )
