"""The operator commands' building blocks (``document-exceptions tail|send|replay|doctor``).

``cli.py`` only parses arguments and prints; each command's logic lives here as plain
functions that take their AWS clients and Kafka connection as arguments, so they are tested
against the local broker, moto and botocore's Stubber without the command line.
"""
