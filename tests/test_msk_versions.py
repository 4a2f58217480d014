"""stacks/msk_versions.py: the one table of Kafka versions MSK offers, as synth reads it."""

from __future__ import annotations

import re

from stacks import msk_versions
from stacks.config import _KAFKA_VERSION, DEFAULT_KAFKA_VERSION


def test_every_version_string_passes_the_config_format_check():
    for row in msk_versions.MSK_KAFKA_VERSIONS:
        assert _KAFKA_VERSION.match(row.version), row.version


def test_dates_are_iso_and_support_ends_after_release():
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    assert iso.match(msk_versions.TABLE_DATE)
    for row in msk_versions.MSK_KAFKA_VERSIONS:
        assert iso.match(row.released), row
        if row.end_of_support is not None:
            assert iso.match(row.end_of_support), row
            assert row.end_of_support > row.released, row


def test_the_native_topic_resource_starts_at_3_6_0():
    assert not msk_versions.lookup("3.5.1").native_topic_resource
    assert msk_versions.lookup("3.6.0").native_topic_resource
    assert msk_versions.lookup("4.1.x.kraft").native_topic_resource
    assert not msk_versions.lookup(DEFAULT_KAFKA_VERSION).native_topic_resource


def test_the_recommended_line_is_offered_and_supported():
    row = msk_versions.lookup(msk_versions.RECOMMENDED_KAFKA_LINE)
    assert row is not None
    assert row.end_of_support is None
    assert msk_versions.RECOMMENDED_KAFKA_LINE in msk_versions.supported_versions()


def test_supported_versions_are_those_without_an_end_of_support_date():
    assert msk_versions.supported_versions() == (
        "3.8.x",
        "3.8.x.kraft",
        "3.9.x",
        "3.9.x.kraft",
        "4.0.x.kraft",
        "4.1.x.kraft",
    )


def test_a_supported_version_has_no_warning():
    assert msk_versions.version_warning("dev", "3.9.x") is None


def test_end_of_support_after_the_table_date_is_worded_as_coming():
    warning = msk_versions.version_warning("dev", "3.7.x")
    assert warning.ack_id == msk_versions.END_OF_SUPPORT_ACK
    assert "3.7.x reaches Amazon MSK end of support on 2026-09-01" in warning.message


def test_an_unknown_version_names_the_table_and_its_date():
    warning = msk_versions.version_warning("prod", "9.9.9")
    assert warning.ack_id == msk_versions.UNKNOWN_VERSION_ACK
    assert warning.message.startswith("environment 'prod': Amazon MSK does not offer Kafka 9.9.9;")
    assert f"as of {msk_versions.TABLE_DATE}" in warning.message
