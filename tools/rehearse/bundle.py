"""Built Lambda assets: what is the function's own code, and does its handler import from the
asset alone.

The assets are built for the Lambda runtime (Python 3.14, manylinux x86_64); this machine's
interpreter may be another version, which cannot load the asset's compiled extensions
(orjson, crc32c). `HostBuildFinder` loads the host's build of such a package
instead, only when the host has the same distribution version, and lists each substitution.
boto3 and botocore come with the Lambda runtime, not the asset, and are taken from the host.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import json
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

# In the Lambda Python runtime itself, so never in the asset.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")


def _distributions(path: Path) -> dict[str, tuple[str, str]]:
    """Top-level import name -> (distribution name, version), for the packages under `path`."""
    owners: dict[str, tuple[str, str]] = {}
    for distribution in importlib.metadata.distributions(path=[str(path)]):
        for file in distribution.files or ():
            top = file.parts[0]
            if top.endswith((".dist-info", ".data")) or top == "..":
                continue
            name = top.split(".", 1)[0] if top.endswith((".py", ".so")) else top
            owners.setdefault(name, (distribution.metadata["Name"], distribution.version))
    return owners


def own_top_level_names(asset: Path) -> list[str]:
    """The asset's own modules and packages (its sources), not its installed dependencies."""
    installed = _distributions(asset)
    names = []
    for entry in sorted(asset.iterdir()):
        if entry.name.endswith((".dist-info", ".libs")) or entry.name.startswith((".", "_")):
            continue
        name = entry.name.removesuffix(".py") if entry.suffix == ".py" else entry.name
        if (entry.is_dir() or entry.suffix == ".py") and name not in installed:
            names.append(entry.name)
    return names


def purge_modules(asset: str) -> None:
    """Forget the asset's own modules, so the next import is a new container's."""
    own = {Path(name).stem for name in own_top_level_names(Path(asset))}
    for name in list(sys.modules):
        if name.split(".", 1)[0] in own:
            del sys.modules[name]


class HostBuildFinder:
    """Meta path finder: runtime-provided packages and same-version host builds of compiled
    packages the asset holds for another interpreter."""

    def __init__(self, asset: Path, host_paths: Sequence[Path]) -> None:
        self.asset = asset
        self.host_paths = [str(p) for p in host_paths]
        self.asset_versions = _distributions(asset)
        self.substituted: list[str] = []

    def _needs_host_build(self, name: str) -> bool:
        package = self.asset / name
        candidates = list(package.rglob("*.so")) if package.is_dir() else []
        candidates += list(self.asset.glob(f"{name}.*.so"))
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        return any(not c.name.endswith(suffixes) for c in candidates)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if path is not None or "." in fullname:
            return None
        if fullname in RUNTIME_PROVIDED:
            return importlib.machinery.PathFinder.find_spec(fullname, self.host_paths)
        if not self._needs_host_build(fullname):
            return None
        distribution, version = self.asset_versions.get(fullname, (fullname, "?"))
        host_version = next(
            (
                d.version
                for d in importlib.metadata.distributions(path=self.host_paths)
                if d.metadata["Name"].lower() == distribution.lower()
            ),
            None,
        )
        if host_version != version:
            raise ImportError(
                f"{fullname}: the asset has {distribution} {version} built for the Lambda "
                f"runtime; this interpreter has {host_version}, so the import cannot be checked"
            )
        self.substituted.append(f"{distribution} {version}")
        return importlib.machinery.PathFinder.find_spec(fullname, self.host_paths)


def host_paths() -> list[str]:
    """This interpreter's site-packages (where the host builds and boto3 come from)."""
    return [p for p in sys.path if p.endswith("site-packages")]


_IMPORT_PROBE = """
import json, sys
asset, handler, host_paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path = [p for p in sys.path if "site-packages" not in p] + [asset]
from tools_rehearse_bundle import HostBuildFinder
from pathlib import Path
finder = HostBuildFinder(Path(asset), [Path(p) for p in host_paths])
sys.meta_path.insert(0, finder)
module, _, name = handler.rpartition(".")
error = None
try:
    getattr(__import__(module), name)
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
print(json.dumps({"error": error, "substituted": finder.substituted, "files": sorted(
    getattr(m, "__file__", None) or "" for m in list(sys.modules.values()))}))
"""


def check_imports(asset: Path, handler: str) -> dict[str, Any]:
    """Import `handler` (module.function) in a fresh, isolated interpreter whose only
    non-standard-library path is `asset` (plus the runtime-provided boto3 and, for compiled
    packages, same-version host builds). Returns {"error", "substituted", "outside"}."""
    probe_dir = asset.parent / f".{asset.name}-probe"
    probe_dir.mkdir(exist_ok=True)
    (probe_dir / "tools_rehearse_bundle.py").write_text(Path(__file__).read_text())
    stdlib = [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")]
    code = f"import sys; sys.path.insert(0, {str(probe_dir)!r})\n" + _IMPORT_PROBE
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(asset), handler, json.dumps(host_paths())],
        capture_output=True,
        text=True,
        check=False,
        cwd=asset,
        timeout=120,
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()[-500:], "substituted": [], "outside": []}
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    allowed = (str(asset), str(probe_dir), *stdlib)
    runtime = tuple(str(Path(p, name)) for p in host_paths() for name in RUNTIME_PROVIDED)
    substituted = {s.split()[0].lower() for s in answer["substituted"]}
    outside = sorted(
        file
        for file in answer["files"]
        if file
        and not file.startswith(allowed)
        and not file.startswith(runtime)
        and not any(f"/{name}" in file.lower() for name in substituted)
    )
    return {"error": answer["error"], "substituted": answer["substituted"], "outside": outside}
