# Twin of check_error.c test_hierarchy_like_python: for each exception the
# C test raises, which `except Base:` clauses catch it (1) or not (0).
import asyncio
import errno
import ssl

import aiohttp

raised = [
    ("CancelledError", asyncio.CancelledError()),
    ("TimeoutError", TimeoutError()),
    ("InvalidStateError", asyncio.InvalidStateError()),
    ("ValueError", ValueError()),
    ("RuntimeError", RuntimeError()),
    ("BrokenBarrierError", asyncio.BrokenBarrierError()),
    ("IncompleteReadError", asyncio.IncompleteReadError(b"", 1)),
    ("LimitOverrunError", asyncio.LimitOverrunError("m", 1)),
    ("QueueEmpty", asyncio.QueueEmpty()),
    ("QueueFull", asyncio.QueueFull()),
    ("MemoryError", MemoryError()),
    ("SSLError", ssl.SSLError()),
    ("SSLCertVerificationError", ssl.SSLCertVerificationError()),
    ("InvalidURL", aiohttp.InvalidURL("m")),
    ("ECONNREFUSED", OSError(errno.ECONNREFUSED, "m")),
    ("ECONNRESET", OSError(errno.ECONNRESET, "m")),
    ("ECONNABORTED", OSError(errno.ECONNABORTED, "m")),
    ("EPIPE", OSError(errno.EPIPE, "m")),
    ("ENOENT", OSError(errno.ENOENT, "m")),
    ("EINVAL", OSError(errno.EINVAL, "m")),
]
bases = [BaseException, Exception, asyncio.CancelledError, OSError,
         ConnectionError, TimeoutError, RuntimeError, EOFError, ValueError]
for name, exc in raised:
    marks = " ".join(f"{b.__name__}={int(isinstance(exc, b))}" for b in bases)
    print(f"{name}: {type(exc).__name__} {marks}")
