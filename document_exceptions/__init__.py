"""Document-access exceptions published to Kafka: the message contract and its publisher.

- `document_exceptions.contract`: the message contract (the one source of truth), validation,
  serialization and the JSON Schema; imports no Kafka client.
- `document_exceptions.connection`: where the Kafka connection settings come from.
- `document_exceptions.publisher`: kafka-python producer settings and `Publisher`.
- `document_exceptions.record`: `Record`, the one record type from the contract to the wire.
- `document_exceptions.names`: names shared by the runtime and the constructs (`stacks/`).
- `document_exceptions.aws_clients`: every boto3 client, with bounded timeouts and retries.
- `document_exceptions.chunking`: the one chunker (SQS batches, Lambda payloads).

Import the submodule you need; this package imports nothing heavy on its own.
"""

__version__ = "0.1.0"
