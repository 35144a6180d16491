"""Burns CPU under the Pyroscope Python SDK (pyroscope-io), as an application would:
configured with the SDK's defaults but for the server and tags, two phases under
dynamic tags (`phase` a for one share of the time, b for the other). Prints the CPU time
and the wall time each phase took, as JSON, once the SDK has flushed on shutdown.
    python3 burn.py <server> <seconds>
"""
import json
import sys
import time

import pyroscope

server, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
pyroscope.configure(application_name="py-burner", server_address=server, tags={"region": "us", "team": "search"})


def burn(duration):
    until = time.monotonic() + duration
    x = 0
    while time.monotonic() < until:
        for i in range(10000):
            x += i * i
    return x


cpu, wall = {}, {}
for phase, share in (("a", 0.25), ("b", 0.75)):
    c0, w0 = time.process_time(), time.monotonic()
    with pyroscope.tag_wrapper({"phase": phase}):
        burn(seconds * share)
    cpu[phase] = int((time.process_time() - c0) * 1e9)
    wall[phase] = int((time.monotonic() - w0) * 1e9)
pyroscope.shutdown()
print(json.dumps({"cpu_ns": cpu, "wall_ns": wall}))
