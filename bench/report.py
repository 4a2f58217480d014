"""Printing and storing the results of `make bench` (see bench_compare)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from bench.bench_producer import print_table
from document_exceptions.publisher import COMPRESSION_CODECS


def print_results(results: dict[str, Any]) -> None:
    info = results["messages"]
    print(
        f"\n{info['count']:,} messages from the guide's example shapes, "
        f"{info['value_bytes_min']:,}-{info['value_bytes_max']:,} bytes of JSON "
        f"(mean {info['value_bytes_mean']:,.0f}); one Tansu broker on 127.0.0.1; "
        "producer settings: "
        + ", ".join(f"{k}={v}" for k, v in results["producer_settings"].items())
    )
    rounds = results["config"]["rounds"]
    print_table(
        f"throughput (median of {rounds} interleaved rounds; row 4 once)",
        ("row", "path", "messages", "msg/s", "CPU us/msg", "runs msg/s"),
        [
            (
                row["row"],
                row["path"],
                f"{row['messages']:,}",
                f"{row['msg_per_s']:,.0f}",
                "-" if row["cpu_us_per_msg"] is None else f"{row['cpu_us_per_msg']:,.1f}",
                " / ".join(f"{run:,.0f}" for run in row["runs_msg_per_s"]),
            )
            for row in results["throughput"]
        ],
    )
    print_table(
        "ratios (from the msg/s above)",
        ("ratio", "measured", "target", "met"),
        [
            (ratio["name"], f"{ratio['value']:.2f}x", *_target_cells(ratio))
            for ratio in results["ratios"]
        ],
    )
    print_table(
        "latency on a warm container / in the calling thread",
        ("path", "calls", "p50 ms", "p99 ms", "target"),
        [
            (
                item["path"],
                f"{item['calls']:,}",
                f"{item['p50_ms']:.3f}",
                f"{item['p99_ms']:.3f}",
                "-"
                if item["target_p99_ms"] is None
                else f"p99 < {item['target_p99_ms']:g} ms: "
                + ("met" if item["p99_ms"] < item["target_p99_ms"] else "MISSED"),
            )
            for item in results["latency"]
        ],
    )
    cold = results["cold_start"]
    print_table(
        f"cold start, ms (fresh interpreters, median of {cold['runs']})",
        ("step", "bytecode cached", "sources compiled (as the Lambda asset: no .pyc)"),
        [
            (step, f"{cold['cached'][step] * 1000:,.0f}", f"{cold['asset'][step] * 1000:,.0f}")
            for step in cold["cached"]
        ]
        + [
            (
                f"import handler / import kafka, CPU (target <= {cold['import_ratio_target']:g}x)",
                *(
                    f"{cold['import_ratio'][mode]:.2f}x "
                    + ("met" if cold["import_ratio"][mode] <= cold["import_ratio_target"] else "NO")
                    for mode in ("cached", "asset")
                ),
            )
        ],
    )
    costs = results.get("codec_costs", {})
    print_table(
        f"compression: the handler SQS batch path per codec (msg/s: median of {rounds}; bytes: "
        "client -> broker through a FaultyRelay, every request included; library: what the "
        "codec adds to the Lambda asset, as installed here, and its import CPU in a fresh "
        "interpreter)",
        (
            "compression",
            "msg/s",
            "CPU us/msg",
            "bytes/msg to broker",
            "JSON / wire",
            "library",
            "asset MB",
            "import ms",
            "runs msg/s",
        ),
        [
            (
                item["compression"]
                + (" (chosen)" if item["compression"] == results["chosen_compression"] else ""),
                f"{item['msg_per_s']:,.0f}",
                f"{item['cpu_us_per_msg']:,.1f}",
                f"{item['bytes_to_broker_per_msg']:,.0f}",
                f"{item['json_over_wire']:.1f}x",
                *_codec_cost_cells(costs.get(item["compression"])),
                " / ".join(f"{run:,.0f}" for run in item["runs_msg_per_s"]),
            )
            for item in results["compression"]
        ],
    )
    if not COMPRESSION_CODECS["snappy"]():
        print("snappy: not measured (python-snappy is not installed)")
    print_table(
        f"the handler SQS batch path per SQS batch size (records per event; median of {rounds})",
        ("records/event", "compression", "msg/s", "CPU us/msg", "runs msg/s"),
        [
            (
                f"{item['records_per_event']:,}",
                item["compression"],
                f"{item['msg_per_s']:,.0f}",
                f"{item['cpu_us_per_msg']:,.1f}",
                " / ".join(f"{run:,.0f}" for run in item["runs_msg_per_s"]),
            )
            for item in results["sqs_batch"]
        ],
    )
    asset = results["lambda_asset"]
    if "skipped" in asset:
        print(f"\nLambda asset: skipped, {asset['skipped']}")
    else:
        within = asset["zipped_bytes"] <= asset["budget_zipped_bytes"]
        print(
            f"\nproducer Lambda asset {asset['asset']}: {asset['unpacked_bytes'] / 1e6:.1f} MB "
            f"unpacked, {asset['zipped_bytes'] / 1e6:.2f} MB zipped (budget "
            f"{asset['budget_zipped_bytes'] / 2**20:g} MiB: {'met' if within else 'NO'}), "
            f"{asset['files']:,} files ({asset['pyc_files']} .pyc)\n  top level: "
            + ", ".join(asset["top_level"])
        )
        if asset["older_than_sources"]:
            print("  (cdk.out is older than the asset's sources: run `make synth`)")
    if results.get("profile"):
        print(profile_text(results["profile"]), end="")
    print(f"\nbench took {results['elapsed_s']:.0f} s")


def _codec_cost_cells(cost: dict[str, Any] | None) -> tuple[str, str, str]:
    if cost is None:
        return "-", "-", "-"
    import_ms = "-" if cost["import_s"] is None else f"{cost['import_s'] * 1000:,.1f}"
    return cost["library"], f"{cost['asset_bytes'] / 1e6:.1f}", import_ms


def _target_cells(ratio: dict[str, Any]) -> tuple[str, str]:
    if ratio["target"] is None:
        return "-", "-"
    target = f">= {ratio['target']:g}x"
    met = "yes" if ratio["met"] else "NO"
    if ratio["stretch"] is not None:
        target += f" (stretch {ratio['stretch']:g}x)"
        met += f", stretch {'yes' if ratio['stretch_met'] else 'no'}"
    return target, met


def print_profile(profile: dict[str, Any]) -> None:
    cpu = profile["cpu_us_per_msg"]
    print_table(
        "where the handler path's CPU goes, us per message (unprofiled, each part measured on "
        "its own, medians of the rounds)",
        ("part", "us/msg"),
        [
            (part, f"{value:.1f}")
            for part, value in (
                ("prepare_json: parse, validate, serialize (handler thread)", cpu["prepare_json"]),
                ("kafka-python send() (handler thread)", cpu["kafka_send_calling_thread"]),
                ("kafka-python flush() (handler thread)", cpu["kafka_flush_calling_thread"]),
                (
                    "handler, Powertools, SQS envelope checks, results (the rest)",
                    cpu["handler_own"],
                ),
                ("handler path: other threads (kafka-python I/O)", cpu["handler_other_threads"]),
                ("handler path, all threads", cpu["handler_total"]),
                (
                    "kafka-python alone: I/O thread (batches, compression, network)",
                    cpu["kafka_io_thread"],
                ),
                ("kafka-python alone: all threads, same settings and chunks", cpu["kafka_total"]),
            )
        ],
    )
    for target, budget in profile["cpu_budget_us_per_msg"].items():
        print(
            f"{target} needs <= {budget:.1f} us of CPU per message (the GIL serializes the "
            f"threads); kafka-python alone takes {cpu['kafka_total']:.1f}"
        )
    print(
        "\nprofile of the handler SQS batch path (cProfile, per-thread CPU time; "
        f"{profile['msg_per_s_profiled']:,.0f} msg/s while profiled)"
    )
    for title, section in profile["sections"].items():
        total = section["cpu_s"] or 1.0
        print_table(
            f"{title}: own CPU time by area ({section['cpu_s']:.2f} s of CPU)",
            ("area", "own s", "share"),
            [
                (item["area"], f"{item['own_s']:.3f}", f"{item['own_s'] / total:.0%}")
                for item in section["own_time_by_area"][:10]
            ],
        )
        print_table(
            f"{title}: top functions by cumulative time",
            ("function", "calls", "own s", "cumulative s"),
            [
                (
                    item["function"],
                    f"{item['calls']:,}",
                    f"{item['own_s']:.3f}",
                    f"{item['cumulative_s']:.3f}",
                )
                for item in section["top_cumulative"]
            ],
        )


def profile_text(profile: dict[str, Any]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_profile(profile)
    return buffer.getvalue()


def write_results(results: dict[str, Any], path: Path) -> list[Path]:
    """The results as JSON at `path`, and the profile summary beside it if there is one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    written = [path]
    if results.get("profile"):
        profile_path = path.with_name("profile-handler.txt")
        profile_path.write_text(profile_text(results["profile"]).lstrip())
        written.append(profile_path)
    return written
