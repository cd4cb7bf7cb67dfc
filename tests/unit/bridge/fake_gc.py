"""Stand-in for `cc-ci gc` in the bridge's tests: appends its invocation (arguments, the run id
its environment names, uid, time) to $FAKE_GC_LOG as a JSON line and exits $FAKE_GC_EXIT (0)."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    invocation = {"argv": sys.argv[1:], "CCCI_RUN_ID": os.environ.get("CCCI_RUN_ID"),
                  "uid": os.getuid(), "at": time.time()}
    with open(os.environ["FAKE_GC_LOG"], "a") as log:
        log.write(json.dumps(invocation) + "\n")
    return int(os.environ.get("FAKE_GC_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
