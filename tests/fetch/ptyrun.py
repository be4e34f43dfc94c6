"""Runs casyncio-fetch on a pseudo-terminal, as at a user's terminal: for
the tests that check what it draws there (imported by their scripts).

    text, bars, status = ptyrun.run(argv, columns, log, sigint_on=None)

text is everything the program printed, also written to the file log;
bars the progress bar's states in the order drawn, each the line as drawn
without the erasing; status the exit status (128 + N when signal N ended
it).  With sigint_on, SIGINT is sent once that text has been printed."""
import fcntl
import os
import pty
import signal
import struct
import termios


def run(argv, columns, log, sigint_on=None):
    pid, fd = pty.fork()
    if pid == 0:
        # The size is the terminal's before the program first asks for it.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        os.execv(argv[0], argv)
    out, pending = b"", sigint_on.encode() if sigint_on else None
    while True:
        try:
            d = os.read(fd, 65536)
        except OSError:  # EIO: the program has closed the terminal
            break
        if not d:
            break
        out += d
        if pending and pending in out:
            os.kill(pid, signal.SIGINT)
            pending = None
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    with open(log, "w") as f:
        f.write(text)
    bars = [s.split("\n")[0] for s in text.replace("\r\n", "\n").split("\r\x1b[K")
            if s.startswith("[")]
    if os.WIFSIGNALED(status):
        return text, bars, 128 + os.WTERMSIG(status)
    return text, bars, os.WEXITSTATUS(status)
