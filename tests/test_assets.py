"""`stacks.assets`: each Lambda asset built for real (pip from the wheelhouse, no Docker, no
network), imported from its folder alone, its contents pinned; hashing and failures on small
folders; the same hashes from two checkouts."""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from stacks.acl_enforcement import ON_EVENT_HANDLER as ACL_ON_EVENT_HANDLER
from stacks.assets import (
    ACL_ENFORCEMENT_ASSET,
    ASSETS,
    LIBRARY_PACKAGE,
    PRODUCER_ASSET,
    REPO_ROOT,
    TOPIC_ASSET,
    WHEELHOUSE,
    BundlingError,
    LambdaAsset,
)
from stacks.kafka_topic import HANDLER as TOPIC_HANDLER
from stacks.producer_function import HANDLER as PRODUCER_HANDLER
from tests.figures import report_figures
from tests.stack_fixtures import asset_s3_key, function_s3_key

# Lambda's limits for a function's deployment package, and this project's budget for the
# producer (its zip is downloaded on every cold start).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
PRODUCER_BUDGET_ZIPPED_BYTES = 5 * 1024 * 1024

# What each asset holds at its top level: a change here is a deliberate change of the asset.
WHEELS_OF_BOTH = {
    "aws_lambda_powertools",
    "aws_lambda_powertools-3.37.0.dist-info",
    "jmespath",
    "jmespath-1.1.0.dist-info",
    "kafka",
    "kafka_python-3.0.12.dist-info",
    "typing_extensions.py",
    "typing_extensions-4.16.0.dist-info",
}
TOP_LEVEL = {
    "producer": {
        "event_shapes.py",
        "handler.py",
        "publishing.py",
        "rejected_queue.py",
        LIBRARY_PACKAGE,
        *WHEELS_OF_BOTH,
        "crc32c",
        "crc32c-2.9.post0.dist-info",
        "orjson",
        "orjson-3.13.0.dist-info",
    },
    "acl enforcement custom resource": {
        "handler.py",
        "cluster_configuration.py",
        LIBRARY_PACKAGE,
        "aws_lambda_powertools",
        "aws_lambda_powertools-3.37.0.dist-info",
        "jmespath",
        "jmespath-1.1.0.dist-info",
        "typing_extensions.py",
        "typing_extensions-4.16.0.dist-info",
    },
    "topic custom resource": {
        "acl_resource.py",
        "handler.py",
        "topic_acls.py",
        "topic_admin.py",
        "topic_planning.py",
        "topic_properties.py",
        "topic_resource.py",
        LIBRARY_PACKAGE,
        *WHEELS_OF_BOTH,
    },
}
HANDLERS = {
    PRODUCER_ASSET.name: PRODUCER_HANDLER,
    TOPIC_ASSET.name: TOPIC_HANDLER,
    ACL_ENFORCEMENT_ASSET.name: ACL_ON_EVENT_HANDLER,
}


@dataclass(frozen=True)
class Built:
    asset: LambdaAsset
    folder: Path
    files: frozenset[str]

    @property
    def unzipped_bytes(self) -> int:
        return sum((self.folder / name).stat().st_size for name in self.files)

    @property
    def zipped_bytes(self) -> int:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(self.files):
                archive.write(self.folder / name, name)
        return len(buffer.getvalue())


@pytest.fixture(scope="module", params=ASSETS, ids=lambda asset: asset.name)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The asset, bundled into a temporary folder by the code synth uses."""
    asset: LambdaAsset = request.param
    folder = tmp_path_factory.mktemp("asset")
    asset.bundle(folder)
    files = frozenset(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    return Built(asset, folder, files)


# A fresh interpreter with only the asset folder and the standard library on sys.path (-I:
# no PYTHONPATH, no user site, no current directory; -S: no site-packages). It imports the
# handler, then lists every module it loaded from anywhere else.
IMPORT_ALONE = """
import json, sys, sysconfig
asset, module_name, function_name = sys.argv[1:]
sys.path.insert(0, asset)
import importlib
module = importlib.import_module(module_name)
assert callable(getattr(module, function_name)), function_name
stdlib = tuple(
    sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")
)
outside = sorted(
    f"{name}: {getattr(loaded, '__file__', None)}"
    for name, loaded in list(sys.modules.items())
    if getattr(loaded, "__file__", None)
    and not loaded.__file__.startswith(asset)
    and not loaded.__file__.startswith(stdlib)
)
print(json.dumps({"outside": outside, "file": module.__file__}))
"""


def test_handler_imports_from_its_built_asset_alone(built: Built, tmp_path: Path) -> None:
    """A module the runtime imports but the asset does not list fails here.

    This machine has no Python 3.14, so the asset's compiled extensions (built for cp314)
    cannot load in this interpreter: the optional ones (orjson, crc32c) fall back to pure
    Python exactly as they would if they were missing, and every Python module, ours and the
    wheels', is imported from the asset.
    """
    module_name, function_name = HANDLERS[built.asset.name].rsplit(".", 1)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "POWERTOOLS_SERVICE_NAME": "import-check",
        "POWERTOOLS_METRICS_NAMESPACE": "ImportCheck",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            IMPORT_ALONE,
            str(built.folder),
            module_name,
            function_name,
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{built.asset.name}: `import {module_name}` fails from the built asset alone; add the "
        f"missing module to its list in stacks/assets.py:\n{result.stderr[-3000:]}"
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"] == str(built.folder / f"{module_name}.py")
    assert report["outside"] == []


def test_top_level_contents_are_pinned(built: Built) -> None:
    top_level = {name.split("/", 1)[0] for name in built.files}
    assert top_level == TOP_LEVEL[built.asset.name]


def test_library_part_is_exactly_the_listed_modules(built: Built) -> None:
    shipped = sorted(
        name.removeprefix(f"{LIBRARY_PACKAGE}/")
        for name in built.files
        if name.startswith(f"{LIBRARY_PACKAGE}/")
    )
    assert shipped == sorted(built.asset.library_modules)


def test_asset_has_no_bytecode_scripts_tests_or_requirements(built: Built) -> None:
    assert not [name for name in built.files if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in built.files if name.startswith(("tests/", "bin/"))]
    assert "requirements.txt" not in built.files


def test_asset_fits_lambda_limits_and_the_producer_budget(
    built: Built, request: pytest.FixtureRequest
) -> None:
    zipped, unzipped = built.zipped_bytes, built.unzipped_bytes
    report_figures(
        request,
        f"{built.asset.name} asset",
        {"files": len(built.files), "unzipped_bytes": unzipped, "zipped_bytes": zipped},
        f"{len(built.files)} files, {unzipped / 1e6:.1f} MB, {zipped / 1e6:.2f} MB zipped",
    )
    assert zipped < MAX_ZIPPED_BYTES
    assert unzipped < MAX_UNZIPPED_BYTES
    if built.asset is PRODUCER_ASSET:
        assert zipped <= PRODUCER_BUDGET_ZIPPED_BYTES


def test_compiled_extensions_are_built_for_python_3_14(built: Built) -> None:
    compiled = sorted(name for name in built.files if name.endswith(".so"))
    assert all("cpython-314-x86_64-linux-gnu" in name for name in compiled), compiled
    packages = {name.split("/", 1)[0] for name in compiled}
    expected = {"crc32c", "orjson"} if built.asset is PRODUCER_ASSET else set()
    assert packages == expected


# --- the lists match what the runtime imports ---------------------------------------------


def _imported_modules(source: Path) -> set[str]:
    """Every module `source` imports, at any depth of its code, except under TYPE_CHECKING."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _reachable_sources(asset: LambdaAsset) -> tuple[set[str], set[str]]:
    """(runtime files, library files) reachable from the handler through imports."""
    runtime: set[str] = set()
    library: set[str] = {"__init__.py"}
    pending = [asset.runtime_dir / "handler.py"]
    seen: set[Path] = set()
    while pending:
        source = pending.pop()
        if source in seen:
            continue
        seen.add(source)
        for name in _imported_modules(source):
            parts = name.split(".")
            if parts[0] == LIBRARY_PACKAGE and len(parts) > 1:
                module = asset.library_dir.joinpath(*parts[1:])
                for candidate in (module.with_suffix(".py"), module / "__init__.py"):
                    if candidate.is_file():
                        library.add(candidate.relative_to(asset.library_dir).as_posix())
                        pending.append(candidate)
            elif len(parts) == 1 and (asset.runtime_dir / f"{name}.py").is_file():
                runtime.add(f"{name}.py")
                pending.append(asset.runtime_dir / f"{name}.py")
    runtime.add("handler.py")
    return runtime, library


@pytest.mark.parametrize("asset", ASSETS, ids=lambda asset: asset.name)
def test_lists_name_exactly_the_modules_the_handler_imports(asset: LambdaAsset) -> None:
    """Imports anywhere in the code (also inside functions) count: nothing missing, nothing
    shipped that the handler never imports."""
    runtime, library = _reachable_sources(asset)
    assert sorted(asset.runtime_modules) == sorted(runtime)
    assert sorted(asset.library_modules) == sorted(library)


# --- CDK bundles through the same code ----------------------------------------------------


def function_stack(app: cdk.App, code: lambda_.Code) -> cdk.Stack:
    stack = cdk.Stack(app, "Bundled")
    lambda_.Function(
        stack, "F", runtime=lambda_.Runtime.PYTHON_3_14, handler="handler.handler", code=code
    )
    return stack


def test_synth_bundles_the_listed_files_under_the_asset_hash(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    s3_key = function_s3_key(function_stack(cdk.App(outdir=str(outdir)), PRODUCER_ASSET.code()))
    (folder,) = outdir.glob("asset.*")
    assert s3_key == f"{folder.name.removeprefix('asset.')}.zip"
    assert {path.name for path in folder.iterdir()} == TOP_LEVEL["producer"]
    # Snapshot and assertion tests skip bundling; their templates must match a real synth.
    assert asset_s3_key(PRODUCER_ASSET) == s3_key


# --- hashes: what goes in, never where the checkout is -------------------------------------


def _checkout(destination: Path) -> Path:
    """The repository's tracked files (as a clone would have them) under `destination`."""
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "-z",
            "stacks",
            "lambda_src",
            "topic_bootstrap",
            "acl_enforcement",
            LIBRARY_PACKAGE,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


HASHES = """
import json
from stacks.assets import ASSETS
print(json.dumps({asset.name: asset.hash() for asset in ASSETS}))
"""


def test_asset_hashes_are_the_same_from_two_checkouts(tmp_path: Path) -> None:
    """Each checkout computes its own hashes in its own interpreter (its `stacks.assets`),
    one of them with bytecode and an unlisted file lying around."""
    first = _checkout(tmp_path / "one" / "document-exceptions")
    second = _checkout(tmp_path / "elsewhere" / "clone")
    (second / "lambda_src" / "__pycache__").mkdir()
    (second / "lambda_src" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    (second / "topic_bootstrap" / "scratch.py").write_text("print('not shipped')\n")

    def hashes(checkout: Path) -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-c", HASHES],
            cwd=checkout,
            env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    from_first, from_second = hashes(first), hashes(second)
    assert from_first == from_second
    assert from_first == {asset.name: asset.hash() for asset in ASSETS}


# --- listing, hashing and failures on small folders ---------------------------------------


@pytest.fixture
def small_asset(tmp_path: Path) -> LambdaAsset:
    runtime = tmp_path / "runtime"
    library = tmp_path / "library"
    runtime.mkdir()
    (library / "sub").mkdir(parents=True)
    (runtime / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (runtime / "unlisted.py").write_text("")
    (library / "__init__.py").write_text("")
    (library / "core.py").write_text("VALUE = 1\n")
    (library / "sub" / "part.py").write_text("")
    (library / "not_shipped.py").write_text("")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("kafka-python==3.0.12\n")
    return LambdaAsset(
        name="small",
        runtime_dir=runtime,
        runtime_modules=("handler.py",),
        library_modules=("__init__.py", "core.py", "sub/part.py"),
        requirements=requirements,
        library_dir=library,
    )


def test_files_are_the_listed_ones_under_their_asset_paths(small_asset: LambdaAsset) -> None:
    assert [str(target) for target, _ in small_asset.files()] == [
        f"{LIBRARY_PACKAGE}/__init__.py",
        f"{LIBRARY_PACKAGE}/core.py",
        f"{LIBRARY_PACKAGE}/sub/part.py",
        "handler.py",
    ]


def test_a_listed_file_that_does_not_exist_is_a_clear_error(small_asset: LambdaAsset) -> None:
    asset = replace(small_asset, library_modules=("__init__.py", "gone.py"))
    with pytest.raises(BundlingError, match=r"do not exist: .*gone\.py \(update the list"):
        asset.files()


def test_a_file_listed_twice_is_an_error(small_asset: LambdaAsset) -> None:
    asset = replace(small_asset, library_modules=("core.py", "core.py"))
    with pytest.raises(BundlingError, match=r"lists document_exceptions/core\.py twice"):
        asset.files()


def test_hash_is_stable_and_changes_only_with_what_ships(small_asset: LambdaAsset) -> None:
    first = small_asset.hash()
    assert small_asset.hash() == first
    (small_asset.runtime_dir / "unlisted.py").write_text("changed = True\n")
    (small_asset.library_dir / "not_shipped.py").write_text("changed = True\n")
    assert small_asset.hash() == first
    (small_asset.library_dir / "core.py").write_text("VALUE = 2\n")
    changed_source = small_asset.hash()
    assert changed_source != first
    small_asset.requirements.write_text("kafka-python==3.0.11\n")
    assert small_asset.hash() not in (first, changed_source)


def test_hash_changes_when_a_file_moves(small_asset: LambdaAsset) -> None:
    before = small_asset.hash()
    os.rename(small_asset.library_dir / "core.py", small_asset.library_dir / "main.py")
    moved = replace(small_asset, library_modules=("__init__.py", "main.py", "sub/part.py"))
    assert moved.hash() != before


def test_missing_wheelhouse_asks_for_make_wheelhouse(
    small_asset: LambdaAsset, tmp_path: Path
) -> None:
    with pytest.raises(BundlingError, match=r"run `make wheelhouse`"):
        small_asset.bundle(tmp_path / "out", wheelhouse=tmp_path / "no-wheels")


def test_a_wheel_missing_from_the_wheelhouse_fails_with_pip_reason(
    small_asset: LambdaAsset, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "partial-wheelhouse"
    wheelhouse.mkdir()
    (typing_wheel,) = WHEELHOUSE.glob("typing_extensions-*.whl")
    shutil.copy(typing_wheel, wheelhouse)
    with pytest.raises(BundlingError, match=r"(?s)make wheelhouse.*kafka-python"):
        small_asset.bundle(tmp_path / "out", wheelhouse=wheelhouse)


def test_code_hashes_the_listed_files_only(small_asset: LambdaAsset) -> None:
    def s3_key() -> str:
        app = cdk.App(context={"aws:cdk:bundling-stacks": []})
        return function_s3_key(function_stack(app, small_asset.code()))

    before = s3_key()
    (small_asset.runtime_dir / "unlisted.py").write_text("ignored = True\n")
    assert s3_key() == before
    (small_asset.library_dir / "__init__.py").write_text("shipped = True\n")
    assert s3_key() != before
