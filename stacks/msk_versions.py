"""The Apache Kafka versions Amazon MSK offers: one table, read by synth and by preflight.

Synth has no AWS access, so it checks `kafka_version` against this table: a version MSK has
never offered (a typo such as "9.9.9") and a version with a published end-of-support date
each get one warning naming the versions to choose from. `make preflight` asks MSK itself
(`kafka:ListKafkaVersions`) in the account and region, and says where this table is behind.

Sources, as of `TABLE_DATE`: the MSK developer guide's "Supported Apache Kafka versions"
table (release and end-of-support dates), its "KRaft mode" page (`3.7.x.kraft` and later:
the `.kraft` variant is a separate version string; Kafka 4 has no ZooKeeper mode) and the
`AWS::MSK::Topic` resource documentation (provisioned clusters on Kafka 3.6.0 or later).
The 4.1.x release date and the 3.7.x end-of-support date come from endoflife.date, which
tracks the same guide. Update the table, and `TABLE_DATE`, when MSK publishes a change.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_DATE = "2026-06-01"
RECOMMENDED_KAFKA_LINE = "3.8.x"


@dataclass(frozen=True)
class MskKafkaVersion:
    """One Kafka version string MSK accepts in `AWS::MSK::Cluster.KafkaVersion`."""

    version: str
    released: str  # MSK release date (ISO)
    end_of_support: str | None  # published MSK end-of-support date, None while none is
    native_topic_resource: bool  # AWS::MSK::Topic can manage topics on it (3.6.0 and later)


def _row(version: str, released: str, end_of_support: str | None = None) -> MskKafkaVersion:
    numbers = tuple(int(part) for part in version.split(".")[:2])
    return MskKafkaVersion(version, released, end_of_support, numbers >= (3, 6))


# Versions released before 2.6 (all past end of support since 2024-06) are left out: MSK no
# longer creates or runs clusters on them.
MSK_KAFKA_VERSIONS: tuple[MskKafkaVersion, ...] = (
    _row("2.6.0", "2020-10-21", "2024-09-11"),
    _row("2.6.1", "2021-01-19", "2024-09-11"),
    _row("2.6.2", "2021-04-29", "2024-09-11"),
    _row("2.6.3", "2021-12-21", "2024-09-11"),
    _row("2.7.0", "2020-12-29", "2024-09-11"),
    _row("2.7.1", "2021-05-25", "2024-09-11"),
    _row("2.7.2", "2021-12-21", "2024-09-11"),
    _row("2.8.0", "2021-05-19", "2024-09-11"),
    _row("2.8.1", "2022-10-28", "2024-09-11"),
    _row("2.8.2.tiered", "2022-10-28", "2025-01-14"),
    _row("3.1.1", "2022-06-22", "2024-09-11"),
    _row("3.2.0", "2022-06-22", "2024-09-11"),
    _row("3.3.1", "2022-10-26", "2024-09-11"),
    _row("3.3.2", "2023-03-02", "2024-09-11"),
    _row("3.4.0", "2023-05-04", "2025-08-04"),
    _row("3.5.1", "2023-09-26", "2025-10-23"),
    _row("3.6.0", "2023-11-16", "2026-06-01"),
    _row("3.7.x", "2024-05-29", "2026-09-01"),
    _row("3.7.x.kraft", "2024-05-29", "2026-09-01"),
    _row("3.8.x", "2025-02-20"),
    _row("3.8.x.kraft", "2025-02-20"),
    _row("3.9.x", "2025-04-21"),
    _row("3.9.x.kraft", "2025-04-21"),
    _row("4.0.x.kraft", "2025-05-16"),
    _row("4.1.x.kraft", "2025-10-15"),
)

_BY_VERSION = {row.version: row for row in MSK_KAFKA_VERSIONS}


def lookup(version: str) -> MskKafkaVersion | None:
    """The table's row for `version`, or None if MSK has never offered it."""
    return _BY_VERSION.get(version)


def supported_versions() -> tuple[str, ...]:
    """The versions with no published end-of-support date, oldest first."""
    return tuple(row.version for row in MSK_KAFKA_VERSIONS if row.end_of_support is None)


@dataclass(frozen=True)
class VersionWarning:
    """A synth warning: `ack_id` is what `cdk synth` offers to acknowledge it with."""

    ack_id: str
    message: str


END_OF_SUPPORT_ACK = "document-exceptions:kafka-end-of-support"
UNKNOWN_VERSION_ACK = "document-exceptions:kafka-version-unknown"
WARNING_IDS = (END_OF_SUPPORT_ACK, UNKNOWN_VERSION_ACK)


def version_warning(environment: str, version: str) -> VersionWarning | None:
    """One warning for a version MSK does not offer or has published an end of support for.

    "reached" or "reaches" is judged against `TABLE_DATE`, not today's date, so synth says
    the same thing from one day to the next.
    """
    switch = f'set "kafka_version": "{RECOMMENDED_KAFKA_LINE}" in cdk.json'
    row = lookup(version)
    if row is None:
        return VersionWarning(
            UNKNOWN_VERSION_ACK,
            f"environment '{environment}': Amazon MSK does not offer Kafka {version}; it offers "
            f"{', '.join(supported_versions())} (stacks/msk_versions.py, as of {TABLE_DATE}; "
            f"`make preflight` asks MSK); the recommended line is {RECOMMENDED_KAFKA_LINE} "
            f"({switch})",
        )
    if row.end_of_support is None:
        return None
    when = "reached" if row.end_of_support <= TABLE_DATE else "reaches"
    return VersionWarning(
        END_OF_SUPPORT_ACK,
        f"environment '{environment}': Kafka {version} {when} Amazon MSK end of support on "
        f"{row.end_of_support} and MSK may refuse to create clusters on it; the recommended "
        f"line is {RECOMMENDED_KAFKA_LINE} ({switch})",
    )
