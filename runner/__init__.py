"""cc-ci: a CI harness for Co-op Cloud recipes."""

from __future__ import annotations

import os
import sys

# docker-py imports paramiko (0.1 s) at `import docker`, for its own ssh:// transport, which cc-ci
# never uses: the SSH target brings its link (runner/targets/ssh.py imports paramiko itself). A None
# in sys.modules makes that one optional import fail as docker-py expects (it catches ImportError);
# an operator's DOCKER_HOST=ssh://… keeps docker-py's transport. Here, because this runs before any
# module of cc-ci imports docker.
if "paramiko" not in sys.modules and not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
    sys.modules.setdefault("docker.transport.sshconn", None)  # type: ignore[arg-type]
