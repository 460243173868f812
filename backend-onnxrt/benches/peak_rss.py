"""Runs a command and prints its peak resident memory and wall time as one JSON line.

Usage: peak_rss.py STDOUT_FILE COMMAND [ARGS...]

The peak is the kernel's maximum resident set size of the child (getrusage RUSAGE_CHILDREN,
the figure `/usr/bin/time -v` reports), so nothing is sampled and nothing is missed. The
command's stdout is saved to STDOUT_FILE, its stderr passes through.
"""

import json
import resource
import subprocess
import sys
import time


def main() -> None:
    start = time.monotonic()
    with open(sys.argv[1], "wb") as out:
        done = subprocess.run(sys.argv[2:], stdout=out, check=False)
    wall = time.monotonic() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"rc": done.returncode, "peak_kib": peak_kib, "wall_s": wall}))


if __name__ == "__main__":
    main()
