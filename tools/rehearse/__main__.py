"""`python -m tools.rehearse` (`make rehearse`): synthesize every environment with its
assets, run the rehearsal against a local SASL_SSL broker, print the table; exit 1 on a gap."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.rehearse.rehearsal import rehearse, render, synthesize


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rehearse-") as folder, rehearsal_broker() as broker:
        assembly = synthesize(Path(folder, "cdk.out"))
        rows = rehearse(assembly, broker_info(broker), Path(folder))
    print(render(rows))
    return 1 if any(row.gaps for row in rows) else 0


def rehearsal_broker() -> Any:
    """The tests' SASL_SSL harness, with an ACL table so it answers Kafka's ACL APIs (the
    ACL resource keeps the app user's and the brokers' ACLs), open where no ACL is: MSK's default
    ``allow.everyone.if.no.acl.found=true``, as this app deploys it."""
    from tests.harness import AclAuthorizer, SaslSslBroker  # noqa: PLC0415 - the tests' broker

    return SaslSslBroker(acls=AclAuthorizer.of([], allow_everyone_if_no_acl_found=True))


def broker_info(broker: object) -> dict[str, object]:
    """What the worker needs to stand the broker in for MSK's."""
    bootstrap = broker.bootstrap  # type: ignore[attr-defined]
    host, port = bootstrap.rsplit(":", 1)
    info: dict[str, object] = {
        "bootstrap": bootstrap,
        "host": host,
        "port": int(port),
        "username": broker.username,  # type: ignore[attr-defined]
        "password": broker.password,  # type: ignore[attr-defined]
        "cafile": broker.cafile,  # type: ignore[attr-defined]
    }
    # A broker that speaks AWS_MSK_IAM names the test credentials and region it accepts.
    iam_env = getattr(broker, "iam_client_env", None)
    if callable(iam_env):
        env = iam_env()
        info["iam"] = {
            "access_key_id": env["AWS_ACCESS_KEY_ID"],
            "secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "region": env["AWS_DEFAULT_REGION"],
        }
    return info


if __name__ == "__main__":
    sys.exit(main())
