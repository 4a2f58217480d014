"""Local Kafka test harness: Tansu, a fault-injecting relay and a SASL_SSL front-end
(SCRAM-SHA-512 and MSK's AWS_MSK_IAM, with optional Kafka ACLs on SCRAM sessions).

Plain classes and context managers, usable from the demo and benchmarks as well as from
pytest (fixtures in :mod:`tests.harness.fixtures`)::

    with RelayedBroker() as kafka:           # Tansu behind a FaultyRelay
        kafka.create_topic("orders")
        kafka.relay.blackhole()
        ...
    with SaslSslBroker() as kafka:           # Tansu behind TLS + SCRAM-SHA-512
        env = kafka.client_env()
"""

from tests.harness.acls import Acl, AclAuthorizer
from tests.harness.broker import TansuBroker, TansuStartError, free_port, tansu_binary
from tests.harness.certs import TlsFiles, make_tls_files
from tests.harness.msk_iam import IamError, IamIdentity, MskIamServer
from tests.harness.relay import FaultyRelay, Record, RelayedBroker, read_all
from tests.harness.sasl_front_end import (
    SaslScramFrontEnd,
    SaslSslBroker,
    ScramCredential,
    ScramError,
    ScramSha512Server,
)

__all__ = [
    "Acl",
    "AclAuthorizer",
    "FaultyRelay",
    "IamError",
    "IamIdentity",
    "MskIamServer",
    "Record",
    "RelayedBroker",
    "SaslScramFrontEnd",
    "SaslSslBroker",
    "ScramCredential",
    "ScramError",
    "ScramSha512Server",
    "TansuBroker",
    "TansuStartError",
    "TlsFiles",
    "free_port",
    "make_tls_files",
    "read_all",
    "tansu_binary",
]
