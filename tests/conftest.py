from typing import Any

from tests.ops_helpers import fake_aws, no_aws_region
from tests.property_report import summary_lines

pytest_plugins = ["tests.harness.fixtures", "tests.stack_fixtures", "tests.figures"]

__all__ = ["fake_aws", "no_aws_region"]  # fixtures, for every test module


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The property tests' case counts, after the run (also in .pytest-report/)."""
    if lines := summary_lines():
        terminalreporter.section("property tests")
        for line in lines:
            terminalreporter.write_line(line)
