"""`make demo`: the whole system on one machine, no AWS account, with the code that runs in AWS.

Six steps, each printed as it runs (`python -m demo --help` for the options):

1. synthesize every environment in-process with the app's own `app.build` (bundling
   skipped) and summarize each template;
2. start Tansu behind the test harness's SASL_SSL + SCRAM-SHA-512 front-end, as MSK speaks;
3. run the topic-bootstrap custom resource handler with CloudFormation Create events;
4. publish the guide's example messages through every entry point of the producer Lambda
   handler and of the app-side library, plus one invalid event;
5. read the topic back with an independent consumer (confluent-kafka) and check it;
6. stop everything started, also on Ctrl-C; exit non-zero if any step failed.

Everything the code under demo logs goes to `.demo/demo.log`, so the screen shows the steps.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
