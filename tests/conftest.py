"""Session-wide test settings.

Every worker the tests start (in-process or as a child process, which inherits the
environment) runs its workflows in Temporal's sandbox, so a workflow change that makes a
non-deterministic call fails the tests even though production workers run without it.
"""

import os

os.environ["TALENTLOOP_WORKFLOW_SANDBOX"] = "true"
