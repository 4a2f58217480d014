"""The Lambda assets, each built from an explicit list of what goes in.

An asset is its runtime folder's modules (named one by one), the library modules they import
(named one by one, under `document_exceptions/`) and its pinned wheels, installed by pip from
the local wheelhouse (`make wheelhouse`) for the Lambda runtime: Python 3.14 on x86_64,
without Docker and without network. Nothing reaches an asset because it happens to sit in a
folder: a new module ships only when it is added to the list here, and
`tests/test_assets.py` fails (importing each handler from its built asset alone) until it is.

The asset hash is computed from what goes in (each file's path inside the asset and its
bytes, the requirements file, the target platform), never from where the checkout is, so
synth gives the same S3 keys in every clone and an unchanged asset never redeploys.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO_ROOT / ".wheelhouse"
# The installable library; an asset carries the modules of it that its runtime imports.
LIBRARY = REPO_ROOT / "document_exceptions"
LIBRARY_PACKAGE = "document_exceptions"
RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_PLATFORM = "manylinux2014_x86_64"


class BundlingError(RuntimeError):
    """A Lambda asset could not be built; the message says what to do."""


@dataclass(frozen=True)
class LambdaAsset:
    """One Lambda asset: what it is made of, its hash, and its `lambda_.Code`.

    `runtime_modules` are files of `runtime_dir`, placed at the asset's root (the handler's
    module path); `library_modules` are files of `document_exceptions/` (POSIX paths relative
    to it), placed under `document_exceptions/`; `requirements` pins the wheels.
    """

    name: str
    runtime_dir: Path
    runtime_modules: tuple[str, ...]
    library_modules: tuple[str, ...]
    requirements: Path
    library_dir: Path = LIBRARY

    def files(self) -> list[tuple[PurePosixPath, Path]]:
        """(path inside the asset, file on disk) for every listed source file, sorted."""
        listed = [(PurePosixPath(name), self.runtime_dir / name) for name in self.runtime_modules]
        listed += [
            (PurePosixPath(LIBRARY_PACKAGE, name), self.library_dir / name)
            for name in self.library_modules
        ]
        targets = [target for target, _ in listed]
        duplicates = sorted({str(target) for target in targets if targets.count(target) > 1})
        if duplicates:
            raise BundlingError(f"{self.name} asset lists {', '.join(duplicates)} twice")
        missing = [str(file) for _, file in listed if not file.is_file()]
        if missing:
            raise BundlingError(
                f"{self.name} asset lists files that do not exist: {', '.join(missing)} "
                "(update the list in stacks/assets.py)"
            )
        return sorted(listed)

    def hash(self) -> str:
        """SHA-256 of the asset's inputs: paths inside the asset, contents, requirements,
        platform; independent of the checkout's location."""
        digest = hashlib.sha256()
        digest.update(f"{RUNTIME.name}|{LAMBDA_PLATFORM}|{LAMBDA_PYTHON_VERSION}\n".encode())
        digest.update(b"requirements\0" + self.requirements.read_bytes() + b"\0")
        for target, file in self.files():
            digest.update(str(target).encode() + b"\0" + file.read_bytes() + b"\0")
        return digest.hexdigest()

    def bundle(self, output_dir: str | Path, wheelhouse: Path = WHEELHOUSE) -> None:
        """Build the asset into `output_dir`: wheels from the wheelhouse, then the sources."""
        LocalPythonBundling(self, wheelhouse).try_bundle(str(output_dir), None)

    def code(self, wheelhouse: Path = WHEELHOUSE) -> lambda_.Code:
        """`Code` for a Python 3.14 Lambda running this asset.

        CDK insists on a bundling image; it is never pulled because local bundling always
        succeeds or raises. Stacks listed out of `aws:cdk:bundling-stacks` skip bundling and
        get the same hash.
        """
        return lambda_.Code.from_asset(
            str(self.runtime_dir),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.hash(),
            bundling=BundlingOptions(
                image=RUNTIME.bundling_image,
                local=LocalPythonBundling(self, wheelhouse),
            ),
        )


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    """Builds an asset on this machine: wheels from the wheelhouse, then the listed sources."""

    def __init__(self, asset: LambdaAsset, wheelhouse: Path = WHEELHOUSE) -> None:
        self.asset = asset
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
            str(self.asset.requirements),
        ]

    def try_bundle(self, output_dir: str, options: BundlingOptions | None) -> bool:
        """Called by CDK at synth; raising (not returning False) keeps CDK from trying Docker."""
        files = self.asset.files()  # a wrong list fails before pip runs
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
                f"pip could not install {self.asset.requirements} from {self.wheelhouse} for "
                f"Python {LAMBDA_PYTHON_VERSION} ({LAMBDA_PLATFORM}); run `make wheelhouse` "
                f"after changing requirements. pip said: {result.stderr.strip()[-2000:]}"
            )
        # pip writes console scripts with this machine's interpreter path in their first line;
        # they could not run in Lambda, and no handler calls them.
        shutil.rmtree(Path(output_dir, "bin"), ignore_errors=True)
        for target, file in files:
            destination = Path(output_dir, target)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, destination)
        return True


# The producer Lambda (`handler.handler`): lambda_src/ and the library modules it imports.
PRODUCER_ASSET = LambdaAsset(
    name="producer",
    runtime_dir=REPO_ROOT / "lambda_src",
    runtime_modules=("event_shapes.py", "handler.py", "publishing.py", "rejected_queue.py"),
    library_modules=(
        "__init__.py",
        "aws_clients.py",
        "chunking.py",
        "connection.py",
        "contract.py",
        "echo.py",
        "encoding.py",
        "fields.py",
        "kafka_connect.py",
        "names.py",
        "publisher.py",
        "record.py",
        "settings.py",
    ),
    requirements=REPO_ROOT / "lambda_src" / "requirements.txt",
)

# The topic and ACL custom resources (`handler.on_event`): topic_bootstrap/ and the library
# modules it imports.
TOPIC_ASSET = LambdaAsset(
    name="topic custom resource",
    runtime_dir=REPO_ROOT / "topic_bootstrap",
    runtime_modules=(
        "acl_resource.py",
        "handler.py",
        "topic_acls.py",
        "topic_admin.py",
        "topic_planning.py",
        "topic_properties.py",
        "topic_resource.py",
    ),
    library_modules=(
        "__init__.py",
        "aws_clients.py",
        "connection.py",
        "echo.py",
        "kafka_connect.py",
        "names.py",
        "settings.py",
    ),
    requirements=REPO_ROOT / "topic_bootstrap" / "requirements.txt",
)

# The ACL enforcement custom resource (`handler.on_event`, `handler.is_complete`):
# acl_enforcement/ and the library modules it imports (its MSK and CloudFormation clients).
ACL_ENFORCEMENT_ASSET = LambdaAsset(
    name="acl enforcement custom resource",
    runtime_dir=REPO_ROOT / "acl_enforcement",
    runtime_modules=("cluster_configuration.py", "handler.py"),
    library_modules=("__init__.py", "aws_clients.py", "names.py"),
    requirements=REPO_ROOT / "acl_enforcement" / "requirements.txt",
)

ASSETS = (PRODUCER_ASSET, TOPIC_ASSET, ACL_ENFORCEMENT_ASSET)
