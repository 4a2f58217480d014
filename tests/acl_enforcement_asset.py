"""Import the ACL enforcement custom resource's modules as the Lambda runtime sees them.

``acl_enforcement/`` is a Lambda asset root whose entry point is ``handler.py``, a name the
other assets use too, so its modules are loaded by file path (as tests/topic_bootstrap_asset.py
does): ``cluster_configuration`` under its own name, exactly as in the Lambda, the entry
point under ``acl_enforcement_handler``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.topic_bootstrap_asset import _load

ASSET_ROOT = Path(__file__).resolve().parent.parent / "acl_enforcement"
HANDLER_MODULE = "acl_enforcement_handler"


def load(name: str) -> ModuleType:
    """``cluster_configuration`` or ``handler`` (with what it imports)."""
    configuration = _load("cluster_configuration", ASSET_ROOT / "cluster_configuration.py")
    if name == "cluster_configuration":
        return configuration
    if name == "handler":
        return _load(HANDLER_MODULE, ASSET_ROOT / "handler.py")
    raise ValueError(f"{name!r} is not a module of {ASSET_ROOT}")
