"""The UDP echo benchmark's Python server: examples/udp_echo_server.py,
which takes --loop asyncio|uvloop.  Run from here so that `make bench`
finds every server of the benchmark under bench/."""
import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.argv[0] = os.path.join(here, "..", "examples", "udp_echo_server.py")
runpy.run_path(sys.argv[0], run_name="__main__")
