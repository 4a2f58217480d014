"""Smoke test of `make bench` (bench/bench_compare.py, messages.py, report.py): not the speed.

Runs the whole benchmark once with a few hundred messages against the session's Tansu
broker (behind its FaultyRelay) and checks that every table has every row, that the ratios
are the quotients of the measured rates, and that what is printed and written matches what
was measured. No assertion is about how fast anything is.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench.bench_compare import RATIOS, SQS_BATCH_VARIANTS, BenchConfig, codecs, run
from bench.messages import MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES, guide_shaped_messages
from bench.report import print_results, write_results
from document_exceptions.contract import prepare_record
from tests.guide_examples import GUIDE_EXAMPLES
from tests.harness.relay import RelayedBroker

THROUGHPUT_ROWS = {
    "handler_sqs": "1",
    "app_sender": "2",
    "kafka_defaults": "3",
    "sync_send_flush": "4",
    "confluent": "5",
    "bare": "A",
    "confluent_product": "B",
    "no_crc32c": "C",
    "confluent_handler_work": "D",
}


def test_guide_shaped_messages_are_valid_sized_and_repeatable() -> None:
    messages = guide_shaped_messages(400, seed=7)
    sizes = [len(prepare_record(message).record.value) for message in messages]  # valid: no error
    assert min(sizes) >= MIN_MESSAGE_BYTES
    assert max(sizes) <= MAX_MESSAGE_BYTES
    assert guide_shaped_messages(400, seed=7) == messages
    assert guide_shaped_messages(400, seed=8) != messages
    # The caller's fields of each seed example; the contract fills in the rest.
    filled = {"topic", "key", "http_status_code", "additional_context"}
    expected = {frozenset(example) - filled for example in GUIDE_EXAMPLES.values()}
    assert {frozenset(message) - filled for message in messages} == expected
    assert len({message["order_req_id"] for message in messages}) > 300  # varied fields


@pytest.fixture(scope="module")
def bench_run(
    kafka_broker: RelayedBroker, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[str]]:
    config = BenchConfig(
        count=200,
        rounds=2,
        sync_count=50,
        latency_invokes=20,
        library_calls=500,  # bench_app_sender's warm-up sends 500 first
        cold_start_runs=1,
        profile="always",
        profile_count=200,
        results_path=tmp_path_factory.mktemp("bench") / "results.json",
    )
    progress: list[str] = []
    return run(config, kafka_broker.bootstrap, kafka_broker, progress.append), progress


def rows_by_key(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in results["throughput"]}


def test_throughput_table_has_every_row_from_its_runs(bench_run: Any) -> None:
    results, progress = bench_run
    rows = rows_by_key(results)
    assert {key: row["row"] for key, row in rows.items()} == THROUGHPUT_ROWS
    for key, row in rows.items():
        expected_runs = 1 if key == "sync_send_flush" else 2
        assert len(row["runs_msg_per_s"]) == expected_runs, key
        assert all(run > 0 for run in row["runs_msg_per_s"]), key
        assert row["msg_per_s"] == statistics.median(row["runs_msg_per_s"])
        assert row["messages"] == (50 if key == "sync_send_flush" else 200)
    assert results["messages"]["count"] == 200
    assert any("row 1 handler_sqs" in line for line in progress)


def test_ratios_are_quotients_of_the_measured_rates(bench_run: Any) -> None:
    results, _ = bench_run
    rows = rows_by_key(results)
    assert [ratio["name"] for ratio in results["ratios"]] == [ratio.name for ratio in RATIOS]
    for ratio, spec in zip(results["ratios"], RATIOS, strict=True):
        measured = rows[spec.numerator]["msg_per_s"] / rows[spec.denominator]["msg_per_s"]
        assert ratio["value"] == pytest.approx(measured)
        assert ratio["target"] == spec.target
        if spec.target is None:
            assert ratio["met"] is None
        else:
            assert ratio["met"] is (measured >= spec.target)
        if spec.stretch is not None:
            assert ratio["stretch_met"] is (measured >= spec.stretch)


def test_latency_cold_start_variants_and_profile_are_filled(bench_run: Any) -> None:
    results, _ = bench_run
    latency = {item["path"]: item for item in results["latency"]}
    assert len(latency) == 4
    assert {item["calls"] for item in latency.values()} == {20, 500}
    for item in latency.values():
        assert 0 < item["p50_ms"] <= item["p99_ms"]

    for variant in ("cached", "asset"):
        steps = results["cold_start"][variant]
        assert set(steps) == {
            "import kafka",
            "import handler",
            "import kafka, CPU",
            "import handler, CPU",
            "first invocation",
            "first SQS invocation",
        }
        assert all(seconds > 0 for seconds in steps.values())
        assert results["cold_start"]["import_ratio"][variant] == pytest.approx(
            steps["import handler, CPU"] / steps["import kafka, CPU"]
        )
    assert results["cold_start"]["import_ratio_target"] == 1.5

    costs = results["codec_costs"]
    assert set(costs) == {codec or "none" for codec in codecs()}
    assert costs["gzip"]["library"] == "standard library"
    assert costs["gzip"]["asset_bytes"] == 0
    assert costs["zstd"]["asset_bytes"] > 1_000_000  # why the asset carries no zstd
    assert costs["gzip"]["import_s"] > 0
    assert results["chosen_compression"] == "gzip"

    compression = {item["compression"]: item for item in results["compression"]}
    assert set(compression) == {codec or "none" for codec in codecs()}
    for item in compression.values():
        assert item["bytes_to_broker_per_msg"] > 0
        assert item["json_over_wire"] == pytest.approx(
            results["messages"]["value_bytes_mean"] / item["bytes_to_broker_per_msg"]
        )
    # The relay counts real bytes: uncompressed JSON cannot be smaller than gzip'd JSON.
    assert (
        compression["gzip"]["bytes_to_broker_per_msg"]
        < compression["none"]["bytes_to_broker_per_msg"]
    )
    assert compression["none"]["bytes_to_broker_per_msg"] > MIN_MESSAGE_BYTES

    batches = [item["records_per_event"] for item in results["sqs_batch"]]
    assert batches == sorted({100, *SQS_BATCH_VARIANTS})

    profile = results["profile"]
    assert profile["cpu_us_per_msg"]["handler_total"] > 0
    sections = profile["sections"]
    assert "handler (calling thread)" in sections
    functions = [
        item["function"] for item in sections["handler (calling thread)"]["top_cumulative"]
    ]
    assert any("handle_sqs" in function for function in functions)


def test_printed_and_written_results_match_the_measurements(
    bench_run: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results, _ = bench_run
    print_results(results)
    printed = capsys.readouterr().out
    for row in results["throughput"]:
        assert row["path"] in printed
        assert f"{row['msg_per_s']:,.0f}" in printed
    for ratio in results["ratios"]:
        line = re.escape(ratio["name"]) + r" *\| " + re.escape(f"{ratio['value']:.2f}x")
        assert re.search(line, printed), ratio["name"]
    assert "where the handler path's CPU goes" in printed
    assert "gzip (chosen)" in printed
    assert "import handler / import kafka, CPU (target <= 1.5x)" in printed

    written = write_results(results, tmp_path / "out" / "results.json")
    assert [path.name for path in written] == ["results.json", "profile-handler.txt"]
    stored = json.loads(written[0].read_text())
    assert stored["throughput"] == results["throughput"]
    assert stored["ratios"] == results["ratios"]
    assert "top functions by cumulative time" in written[1].read_text()
