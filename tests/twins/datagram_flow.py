"""Twin of check_datagram.c's test_flow_control: a Unix datagram endpoint
connected to a plain socket that reads nothing until told to.  The
kernel takes datagrams until the receiver's queue is full
(net.unix.max_dgram_qlen, 10 by default), then refuses them (EAGAIN):
they are queued in the transport, and past the high-water mark (4096
here) the protocol is paused.  Reading the socket lets the queue drain:
the protocol is resumed below the low-water mark, every datagram arrives
in order, and close() waits for the queue before connection_lost.

The line lists: the sends made before pause_writing, the datagrams the
kernel took before refusing (the receiver's queue), then the events.
The C test expects it exactly (it counts the same 1,000-byte datagrams;
its buffer size counts 8 more per datagram, as Python 3.13's does, which
does not move the water marks' crossing points here).

    /usr/bin/python3 tests/twins/datagram_flow.py
"""
import asyncio
import os
import socket
import tempfile

D = tempfile.mkdtemp(prefix="casyncio-dgram-twin-")
N = 30


class Flow(asyncio.DatagramProtocol):
    def __init__(self, log):
        self.log = log
        self.paused = False
        self.lost = asyncio.get_running_loop().create_future()

    def pause_writing(self):
        self.paused = True
        self.log.append("pause_writing")

    def resume_writing(self):
        self.paused = False
        self.log.append("resume_writing")

    def connection_lost(self, exc):
        self.log.append(f"lost({exc})")
        self.lost.set_result(None)


async def main():
    loop = asyncio.get_running_loop()
    path = f"{D}/rx.sock"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.setblocking(False)
    log = []
    t, p = await loop.create_datagram_endpoint(lambda: Flow(log), family=socket.AF_UNIX,
                                               remote_addr=path)
    t.set_write_buffer_limits(high=4096)
    sends = 0
    while not p.paused:
        t.sendto(bytes([sends]) * 1000)
        sends += 1
    queued = t.get_write_buffer_size() > 0
    # What the kernel took: sends minus the transport's queue.
    taken = 0
    got = []
    while True:
        try:
            got.append(rx.recv(2000))
            taken += 1
        except BlockingIOError:
            break
    log.insert(0, f"sends={sends} kernel={taken} queued={queued}")
    for i in range(sends, N):
        t.sendto(bytes([i]) * 1000)
    t.close()
    log.append(f"closing={t.is_closing()}")
    while len(got) < N:
        try:
            got.append(rx.recv(2000))
        except BlockingIOError:
            await asyncio.sleep(0.001)
    await p.lost
    ok = all(len(d) == 1000 and d == bytes([i]) * 1000 for i, d in enumerate(got))
    log.append(f"received={len(got)} in_order={ok} buffer={t.get_write_buffer_size()}")
    rx.close()
    os.unlink(path)
    os.rmdir(D)
    print("flow_control", " ".join(log))


asyncio.run(main())
