# Twin of check_error.c test_raise_uv_errno_types: the exception type
# Python picks for an OSError with each errno (libuv code = -errno).
import errno

for name in ["EPERM", "ENOENT", "ESRCH", "EINTR", "EAGAIN", "ECHILD",
             "EACCES", "EEXIST", "ENOTDIR", "EISDIR", "EINVAL", "EPIPE",
             "EALREADY", "EINPROGRESS", "ECONNABORTED", "ECONNREFUSED",
             "ECONNRESET", "ETIMEDOUT"]:
    exc = OSError(getattr(errno, name), "m")
    print(f"{name} {type(exc).__name__} {exc.errno}")
