"""An independent WebSocket server for wsdat's tests, built on the `websockets` package (asyncio, not trio).

Run: python independent_server.py [--cert FILE --key FILE] [--port N]. It listens on 127.0.0.1 (port chosen by the OS
unless given), prints
"PORT <n>" and serves until killed. Each text message is a command or is echoed back:

  !binary <hex>          send a binary message
  !ping <text>           send a ping with that payload
  !close <code> [reason] close the connection with a close frame
  !burst <n> <prefix>    send n text messages "<prefix>-<i>"
  !fragments <a> <b> ... send one text message made of these fragments
  !big <n>               send a text message of n "x"
  !headers               send the request headers as one JSON text message
  !extensions            send the negotiated Sec-WebSocket-Extensions (the server's answer; "" when none)
anything else (text or binary) is sent back unchanged. When a connection ends, the server prints
"CLOSED <code> <reason>" (the client's close frame, as the server saw it) on stdout.
"""

import argparse
import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve


async def handle(ws: ServerConnection) -> None:
    try:
        await serve_commands(ws)
    finally:
        await ws.wait_closed()
        print(f"CLOSED {ws.close_code} {ws.close_reason or ''}".rstrip(), flush=True)


async def serve_commands(ws: ServerConnection) -> None:
    async for message in ws:
        if isinstance(message, bytes) or not message.startswith("!"):
            await ws.send(message)
            continue
        command, *args = message.split(" ")
        if command == "!binary":
            await ws.send(bytes.fromhex("".join(args)))
        elif command == "!ping":
            await ws.ping(" ".join(args).encode())
        elif command == "!close":
            await ws.close(int(args[0]), " ".join(args[1:]))
        elif command == "!burst":
            for i in range(int(args[0])):
                await ws.send(f"{args[1]}-{i}")
        elif command == "!fragments":
            await ws.send(args)
        elif command == "!big":
            await ws.send("x" * int(args[0]))
        elif command == "!extensions":
            await ws.send(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
        elif command == "!headers":
            await ws.send(json.dumps(dict(ws.request.headers.raw_items())))
        else:
            await ws.send(f"unknown command {command}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-compression", action="store_true", help="do not negotiate permessage-deflate")
    args = parser.parse_args()
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    compression = None if args.no_compression else "deflate"
    async with serve(handle, "127.0.0.1", args.port, ssl=context, max_size=None, ping_interval=None,
                     compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
