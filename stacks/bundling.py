"""Lambda assets for Python 3.14 on x86_64, bundled without Docker and without network.

`pip install --target` puts the pinned runtime dependencies, as manylinux wheels for the
Lambda runtime, from the local wheelhouse (`make wheelhouse`) into the asset folder; the
source folders are copied next to them. The asset hash is computed from the files that go
into the asset plus the requirements and the target platform, so synth is deterministic
and an unchanged source tree never causes a redeploy.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO_ROOT / ".wheelhouse"
LAMBDA_SRC = REPO_ROOT / "lambda_src"
# The installable library; Lambda assets carry the parts they import.
LIBRARY = REPO_ROOT / "document_exceptions"
# Pinned runtime dependencies of every Lambda asset (producer and topic bootstrap).
LAMBDA_REQUIREMENTS = LAMBDA_SRC / "requirements.txt"
# Parts of the shared `document_exceptions` package no Lambda imports: the Django-side
# library and the operator commands.
NOT_IN_LAMBDA = ("app", "ops", "cli.py")
RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_PLATFORM = "manylinux2014_x86_64"

# Never shipped, wherever they appear in a source tree.
EXCLUDED_NAMES = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".DS_Store",
)


class BundlingError(RuntimeError):
    """A Lambda asset could not be built; the message says what to do."""


@dataclass(frozen=True)
class AssetSource:
    """A source folder copied into the asset.

    `target` is the folder inside the asset ("" for the root); `exclude` lists paths
    relative to `path` (POSIX form, e.g. "document_exceptions/app") left out with
    everything below them.
    """

    path: Path
    target: str = ""
    exclude: tuple[str, ...] = ()

    def files(self) -> Iterator[tuple[PurePosixPath, Path]]:
        """(path inside the asset, file on disk), sorted, with the exclusions applied."""
        if not self.path.is_dir():
            raise BundlingError(f"Lambda asset source folder {self.path} does not exist")
        excluded = tuple(PurePosixPath(item) for item in self.exclude)
        for file in sorted(self.path.rglob("*")):
            relative = PurePosixPath(file.relative_to(self.path).as_posix())
            if not file.is_file() or _is_excluded(relative, excluded):
                continue
            yield PurePosixPath(self.target, relative), file


def _is_excluded(relative: PurePosixPath, excluded: tuple[PurePosixPath, ...]) -> bool:
    if any(fnmatch.fnmatch(part, name) for part in relative.parts for name in EXCLUDED_NAMES):
        return True
    return any(relative == prefix or prefix in relative.parents for prefix in excluded)


def asset_files(sources: Sequence[AssetSource]) -> list[tuple[PurePosixPath, Path]]:
    """Every source file of an asset; two sources writing the same file is an error."""
    seen: dict[PurePosixPath, Path] = {}
    for source in sources:
        for target, file in source.files():
            if target in seen:
                raise BundlingError(f"{file} and {seen[target]} both map to {target} in the asset")
            seen[target] = file
    return sorted(seen.items())


def asset_hash(sources: Sequence[AssetSource], requirements: Path) -> str:
    """SHA-256 of the asset's inputs: source paths and contents, requirements, platform."""
    digest = hashlib.sha256()
    digest.update(f"{RUNTIME.name}|{LAMBDA_PLATFORM}|{LAMBDA_PYTHON_VERSION}\n".encode())
    digest.update(b"requirements\0" + requirements.read_bytes() + b"\0")
    for target, file in asset_files(sources):
        digest.update(str(target).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """Builds the asset on this machine: wheels from the wheelhouse, then the sources."""

    def __init__(
        self,
        sources: Sequence[AssetSource],
        requirements: Path,
        wheelhouse: Path = WHEELHOUSE,
    ) -> None:
        self.sources = tuple(sources)
        self.requirements = requirements
        self.wheelhouse = wheelhouse

    def pip_command(self, output_dir: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            "--target",
            output_dir,
            "--platform",
            LAMBDA_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--no-index",
            "--find-links",
            str(self.wheelhouse),
            "-r",
            str(self.requirements),
        ]

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        """Called by CDK at synth; raising (not returning False) keeps CDK from trying Docker."""
        if not self.wheelhouse.is_dir() or not any(self.wheelhouse.glob("*.whl")):
            raise BundlingError(
                f"no wheels in {self.wheelhouse}: run `make wheelhouse` once (it downloads the "
                f"Lambda runtime wheels for Python {LAMBDA_PYTHON_VERSION}, {LAMBDA_PLATFORM}) "
                "so synth can bundle without network"
            )
        result = subprocess.run(
            self.pip_command(output_dir), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BundlingError(
                f"pip could not install {self.requirements} from {self.wheelhouse} for Python "
                f"{LAMBDA_PYTHON_VERSION} ({LAMBDA_PLATFORM}); run `make wheelhouse` after "
                f"changing requirements. pip said: {result.stderr.strip()[-2000:]}"
            )
        # Console scripts carry this machine's interpreter path and cannot run in Lambda.
        shutil.rmtree(Path(output_dir, "bin"), ignore_errors=True)
        for target, file in asset_files(self.sources):
            destination = Path(output_dir, target)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, destination)
        return True


def python_asset_code(
    sources: Sequence[AssetSource],
    requirements: Path,
    *,
    wheelhouse: Path = WHEELHOUSE,
) -> lambda_.Code:
    """`Code` for a Python 3.14 Lambda whose asset is `sources` plus `requirements`.

    CDK insists on a bundling image; it is never pulled because local bundling always
    succeeds or raises. Stacks listed out of `aws:cdk:bundling-stacks` skip bundling.
    """
    sources = tuple(sources)
    return lambda_.Code.from_asset(
        str(sources[0].path),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(sources, requirements),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=LocalPythonBundling(sources, requirements, wheelhouse),
        ),
    )
