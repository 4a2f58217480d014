"""`stacks.bundling`: one real, Docker-free, offline bundle of the producer asset, plus the
hashing and failure paths on small folders."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from stacks.bundling import (
    WHEELHOUSE,
    AssetSource,
    BundlingError,
    LocalPythonBundling,
    asset_files,
    asset_hash,
    python_asset_code,
)
from stacks.producer_function import HANDLER, PRODUCER_SOURCES, producer_code
from tests.figures import report_figures

# Lambda's limits for a function's deployment package.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    folder: Path
    s3_key: str
    zipped_bytes: int
    unzipped_bytes: int
    files: frozenset[str]


def function_s3_key(stack: cdk.Stack) -> str:
    template = stack.node.root.synth().get_stack_by_name(stack.stack_name).template
    (function,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    return function["Properties"]["Code"]["S3Key"]


def producer_stack(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "Bundled")
    lambda_.Function(
        stack,
        "Producer",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler=HANDLER,
        code=producer_code(),
    )
    return stack


def zipped_size(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return len(buffer.getvalue())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The producer asset, bundled by CDK's synth through LocalPythonBundling (no Docker)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    stack = producer_stack(cdk.App(outdir=str(outdir)))
    s3_key = function_s3_key(stack)
    (folder,) = outdir.glob("asset.*")
    files = frozenset(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    return Bundle(
        folder=folder,
        s3_key=s3_key,
        zipped_bytes=zipped_size(folder),
        unzipped_bytes=sum((folder / name).stat().st_size for name in files),
        files=files,
    )


def test_bundle_has_the_handler_and_the_document_exceptions_package(bundle: Bundle) -> None:
    assert "handler.py" in bundle.files
    expected = {target.as_posix() for target, _ in asset_files(PRODUCER_SOURCES)}
    assert expected <= bundle.files
    assert "document_exceptions/connection.py" in bundle.files


def test_bundle_has_kafka_python_and_crc32c_built_for_python_3_14(bundle: Bundle) -> None:
    assert "kafka/__init__.py" in bundle.files
    assert "kafka/producer/kafka.py" in bundle.files
    compiled = [
        name for name in bundle.files if name.startswith("crc32c/") and name.endswith(".so")
    ]
    assert compiled == ["crc32c/_crc32c.cpython-314-x86_64-linux-gnu.so"]
    assert "aws_lambda_powertools/__init__.py" in bundle.files


def test_bundle_leaves_out_bytecode_tests_scripts_and_the_django_package(bundle: Bundle) -> None:
    assert not [name for name in bundle.files if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in bundle.files if name.startswith("document_exceptions/app/")]
    assert not [name for name in bundle.files if name.startswith(("tests/", "bin/"))]
    assert not [name for name in bundle.files if ".egg-info/" in name]


def test_bundle_fits_lambda_package_limits(bundle: Bundle, request: pytest.FixtureRequest) -> None:
    report_figures(
        request,
        "producer asset",
        {
            "files": len(bundle.files),
            "unzipped_bytes": bundle.unzipped_bytes,
            "zipped_bytes": bundle.zipped_bytes,
        },
        f"{len(bundle.files)} files, {bundle.unzipped_bytes / 1e6:.1f} MB, "
        f"{bundle.zipped_bytes / 1e6:.2f} MB zipped",
    )
    assert bundle.zipped_bytes < MAX_ZIPPED_BYTES
    assert bundle.unzipped_bytes < MAX_UNZIPPED_BYTES


def test_skipping_bundling_gives_the_same_asset_hash_as_bundling(bundle: Bundle) -> None:
    # Snapshot and assertion tests skip bundling; their templates must match a real synth.
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    assert function_s3_key(producer_stack(app)) == bundle.s3_key


# --- hashing, selection and failures on small folders ----------------------------------------


@pytest.fixture
def small_source(tmp_path: Path) -> tuple[AssetSource, Path]:
    root = tmp_path / "src"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "app").mkdir()
    (root / "tests").mkdir()
    (root / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "pkg" / "app" / "views.py").write_text("")
    (root / "tests" / "test_handler.py").write_text("")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("kafka-python==3.0.12\n")
    return AssetSource(root, exclude=("pkg/app",)), requirements


def test_asset_files_skip_bytecode_tests_and_excluded_folders(
    small_source: tuple[AssetSource, Path],
) -> None:
    source, _ = small_source
    assert [str(target) for target, _ in asset_files([source])] == [
        "handler.py",
        "pkg/__init__.py",
    ]


def test_a_source_can_be_placed_under_a_folder_of_the_asset(
    small_source: tuple[AssetSource, Path],
) -> None:
    source, _ = small_source
    shared = AssetSource(source.path / "pkg", target="shared", exclude=("app",))
    assert [str(target) for target, _ in asset_files([shared])] == ["shared/__init__.py"]


def test_two_sources_writing_the_same_file_is_an_error(
    small_source: tuple[AssetSource, Path],
) -> None:
    source, _ = small_source
    with pytest.raises(BundlingError, match=r"both map to handler\.py"):
        asset_files([source, AssetSource(source.path, exclude=("pkg",))])


def test_asset_hash_is_stable_and_changes_with_sources_and_requirements(
    small_source: tuple[AssetSource, Path],
) -> None:
    source, requirements = small_source
    first = asset_hash([source], requirements)
    assert asset_hash([source], requirements) == first
    (source.path / "pkg" / "__pycache__" / "y.cpython-311.pyc").write_bytes(b"\1")
    (source.path / "pkg" / "app" / "views.py").write_text("changed = True\n")
    assert asset_hash([source], requirements) == first  # excluded files do not count
    (source.path / "handler.py").write_text("def handler(event, context):\n    return None\n")
    changed_source = asset_hash([source], requirements)
    assert changed_source != first
    requirements.write_text("kafka-python==3.0.11\n")
    assert asset_hash([source], requirements) not in (first, changed_source)


def test_asset_hash_changes_when_a_file_moves(small_source: tuple[AssetSource, Path]) -> None:
    source, requirements = small_source
    before = asset_hash([source], requirements)
    os.rename(source.path / "handler.py", source.path / "main.py")
    assert asset_hash([source], requirements) != before


def test_missing_source_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundlingError, match=r"source folder .*nowhere does not exist"):
        asset_files([AssetSource(tmp_path / "nowhere")])


def test_missing_wheelhouse_asks_for_make_wheelhouse(
    small_source: tuple[AssetSource, Path], tmp_path: Path
) -> None:
    source, requirements = small_source
    bundling = LocalPythonBundling([source], requirements, wheelhouse=tmp_path / "no-wheels")
    with pytest.raises(BundlingError, match=r"run `make wheelhouse`"):
        bundling.try_bundle(str(tmp_path / "out"), None)


def test_a_wheel_missing_from_the_wheelhouse_fails_with_pip_reason(
    small_source: tuple[AssetSource, Path], tmp_path: Path
) -> None:
    source, requirements = small_source
    wheelhouse = tmp_path / "partial-wheelhouse"
    wheelhouse.mkdir()
    (typing_wheel,) = WHEELHOUSE.glob("typing_extensions-*.whl")
    shutil.copy(typing_wheel, wheelhouse)
    bundling = LocalPythonBundling([source], requirements, wheelhouse=wheelhouse)
    with pytest.raises(BundlingError, match=r"(?s)make wheelhouse.*kafka-python"):
        bundling.try_bundle(str(tmp_path / "out"), None)


def test_python_asset_code_hashes_the_shipped_sources_only(
    small_source: tuple[AssetSource, Path],
) -> None:
    source, requirements = small_source

    def s3_key() -> str:
        stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "Small")
        code = python_asset_code([source], requirements)
        lambda_.Function(stack, "F", runtime=lambda_.Runtime.PYTHON_3_14, handler="h.h", code=code)
        return function_s3_key(stack)

    before = s3_key()
    (source.path / "pkg" / "app" / "views.py").write_text("ignored = True\n")
    assert s3_key() == before
    (source.path / "pkg" / "__init__.py").write_text("shipped = True\n")
    assert s3_key() != before
