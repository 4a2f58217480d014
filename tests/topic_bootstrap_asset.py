"""Import the topic custom resource's modules as the Lambda runtime sees them.

``topic_bootstrap/`` is a Lambda asset root: its modules import each other by their own
names (``import topic_planning``), and its entry point is ``handler.py``, a name that
``lambda_src/`` (the producer's asset root) uses too. Putting ``topic_bootstrap/`` on
``sys.path`` would let one ``handler`` shadow the other, so the modules are loaded here by
file path instead: the uniquely named ones under their own names (exactly as in the
Lambda), the entry point under ``topic_bootstrap_handler``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ASSET_ROOT = Path(__file__).resolve().parent.parent / "topic_bootstrap"
# In dependency order: each module imports only the ones before it.
MODULES = (
    "topic_acls",
    "topic_planning",
    "topic_properties",
    "topic_admin",
    "topic_resource",
    "acl_resource",
)
HANDLER_MODULE = "topic_bootstrap_handler"


def load(name: str) -> ModuleType:
    """The asset module ``name`` (one of MODULES, or "handler"), with what it imports."""
    if name == "handler":
        for module in MODULES:
            _load(module, ASSET_ROOT / f"{module}.py")
        return _load(HANDLER_MODULE, ASSET_ROOT / "handler.py")
    if name not in MODULES:
        raise ValueError(f"{name!r} is not a module of {ASSET_ROOT}")
    for module in MODULES[: MODULES.index(name)]:
        _load(module, ASSET_ROOT / f"{module}.py")
    return _load(name, ASSET_ROOT / f"{name}.py")


def _load(module_name: str, path: Path) -> ModuleType:
    existing = sys.modules.get(module_name)
    if existing is not None:
        if Path(existing.__file__ or "").resolve() != path:
            raise ImportError(f"{module_name} is already imported from {existing.__file__}")
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
