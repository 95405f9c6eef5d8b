"""Soak: an hour of a misbehaving server, compressed into a few minutes (not part of `make test`).

    python benchmarks/soak.py [--duration 180] [--rate 400]

A server on loopback numbers every message it sends; on a schedule it streams, floods, stalls, drops TCP without a
close frame, closes with 1001 and restarts (stops listening, then listens again on the same port). A DAT with
reconnect and keepalive on watches it, and once Active is switched off for a while: what the server sent just before
it saw that close is dropped by design (TouchDesigner drops data while Active is off) and is counted apart.
At the end it prints messages sent vs received vs in the table, lost / duplicated / reordered counts, connects and
reconnects, and RSS over time. Target: zero lost or duplicated messages, flat memory.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import resource
import sys
from dataclasses import dataclass, field

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from wsdat_core import WebSocketDAT


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


@dataclass
class SoakServer:
    rate: float
    port: int = 0
    mode: str = "stream"
    phase: str = ""
    sent: list[int] = field(default_factory=list)
    sent_in: list[str] = field(default_factory=list)  # the phase each message was sent in
    connections: list[WebSocketConnection] = field(default_factory=list)
    scope: trio.CancelScope | None = None

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self.scope:
            async with trio.open_nursery() as nursery:
                serve = functools.partial(trio.serve_tcp, self._handle, self.port, host="127.0.0.1")
                listeners = await nursery.start(serve)
                self.port = listeners[0].socket.getsockname()[1]
                task_status.started()

    async def _send(self, connection: WebSocketConnection) -> None:
        number = len(self.sent)
        await connection.send_message(f"seq:{number}")
        self.sent.append(number)
        self.sent_in.append(self.phase)

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with trio.open_nursery() as nursery:
            await self._serve(stream, await (await wrap_server_stream(nursery, stream)).accept())

    async def _serve(self, stream: trio.SocketStream, connection: WebSocketConnection) -> None:
        self.connections.append(connection)
        try:
            while True:
                if self.mode == "stream":
                    await self._send(connection)
                    await trio.sleep(1 / self.rate)
                elif self.mode == "flood":
                    for _ in range(20_000):
                        await self._send(connection)
                    self.mode = "stream"
                elif self.mode == "drop":
                    self.mode = "stream"
                    await trio.aclose_forcefully(stream)  # TCP FIN, no close frame: the client sees 1006
                    return
                else:  # stall: silence
                    await trio.sleep(0.05)
        except ConnectionClosed:
            pass

    async def close_all(self, code: int) -> None:
        for connection in self.connections:
            if connection.closed is None:
                with trio.move_on_after(2):
                    await connection.aclose(code, "soak")


async def soak(duration: float, rate: float) -> int:
    server = SoakServer(rate)
    received: list[int] = []

    class Count:
        def onReceiveText(self, message: str) -> None:
            received.append(int(message[4:]))

    step = duration / 12
    rss: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        dat = WebSocketDAT("soak", netaddress=f"ws://127.0.0.1:{server.port}/", callbacks=[Count()], maxlines=1000,
                           reconnectdelay=0.5, reconnectmaxdelay=2, pinginterval=1, pingtimeout=2)
        await nursery.start(dat.run)
        schedule = ["stream", "flood", "stream", "stall", "drop", "stream", "restart", "stream", "flood",
                    "inactive", "close1001", "stream"]
        for phase in schedule:
            print(f"{trio.current_time():9.1f}  phase {phase:<10} received {len(received):>8}  rss {rss_mib():.1f} MiB",
                  flush=True)
            rss.append((phase, rss_mib()))
            server.phase = phase
            if phase == "restart":
                await server.close_all(1001)
                assert server.scope is not None
                server.scope.cancel()
                await trio.sleep(step / 2)
                await nursery.start(server.serve)
                await trio.sleep(step / 2)
            elif phase == "inactive":
                dat.par.active = False
                await trio.sleep(step / 2)
                dat.par.active = True
                await trio.sleep(step / 2)
            elif phase == "close1001":
                await server.close_all(1001)
                await trio.sleep(step)
            else:
                server.mode = phase
                await trio.sleep(step)
        server.mode = "stall"
        await trio.sleep(2)  # let the last messages arrive
        nursery.cancel_scope.cancel()

    sent = server.sent
    missing = sorted(set(sent) - set(received))
    # While Active is off, data sent to the DAT is lost by design (TouchDesigner's rule): not counted as lost.
    deliberate = [n for n in missing if server.sent_in[n] == "inactive"]
    lost = [n for n in missing if server.sent_in[n] != "inactive"]
    duplicated = len(received) - len(set(received))
    reordered = sum(1 for a, b in itertools.pairwise(received) if b < a)
    in_table = dat.numRows - 1
    tail_ok = [int(m[4:]) for m in dat.col("message")[1:]] == received[-in_table:]
    print()
    print(f"sent {len(sent)}  received {len(received)}  in table {in_table} (maxlines 1000, newest kept: {tail_ok})")
    print(f"lost {len(lost)}  duplicated {duplicated}  reordered {reordered}  "
          f"(dropped while Active was off, by design: {len(deliberate)})")
    if lost:
        print("lost messages by phase: " + ", ".join(f"{n} ({server.sent_in[n]})" for n in lost[:20]))
    print(f"connects {dat.info.connects}  disconnects {dat.info.disconnects}  reconnects {dat.info.reconnects}  "
          f"errors {dat.info.errors}  warnings {dat.info.warnings}")
    print("rss MiB by phase: " + ", ".join(f"{p} {v:.1f}" for p, v in rss) + f", end {rss_mib():.1f}")
    print(f"max rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    ok = not lost and not duplicated and not reordered and tail_ok
    print("RESULT:", "ok, nothing lost or duplicated" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds for the whole schedule")
    parser.add_argument("--rate", type=float, default=400.0, help="messages per second while streaming")
    args = parser.parse_args()
    return trio.run(soak, args.duration, args.rate)


if __name__ == "__main__":
    sys.exit(main())
