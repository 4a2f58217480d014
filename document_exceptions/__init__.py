"""Document-access exceptions published to Kafka: the message contract and its publisher.

- `document_exceptions.contract`: the message contract (the one source of truth), validation,
  serialization and the JSON Schema; imports no Kafka client.
- `document_exceptions.connection`: where the Kafka connection settings come from.
- `document_exceptions.publisher`: kafka-python producer settings and `Publisher`.

Import the submodule you need; this package imports nothing heavy on its own.
"""

__version__ = "0.1.0"
