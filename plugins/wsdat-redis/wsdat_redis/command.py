"""``wsdat work``: run a DAT's hooks on the entries of a Redis stream (added to ``wsdat`` through the entry-point
group ``wsdat.commands`` once this plugin is installed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio

from wsdat_core.faces.watch import (
    EXIT_OK,
    UsageError,
    add_parameter_flags,
    add_watch_flags,
    make_dat,
    parameters_from,
    save_table,
    start_view,
)

from .work import RedisUnavailable, WorkerDAT, WorkOptions, run_worker, watch_signals

__all__ = ["add_work_command", "cmd_work"]


def add_work_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``wsdat work`` to ``wsdat``'s sub-commands."""
    work = commands.add_parser("work", parents=parents,
                               help="run the hooks on entries of a Redis stream (written by the redis plugin)")
    work.add_argument("url", nargs="?", default="redis://127.0.0.1:6379/0",
                      help="the Redis server (default redis://127.0.0.1:6379/0)")
    work.add_argument("--stream", required=True, action="append", metavar="STREAM",
                      help="a stream an ingest DAT writes, e.g. 'wsdat:{feed}'; repeat it for several, or give a "
                           "pattern ('wsdat:*': every stream matching it, :send and :dead excepted)")
    work.add_argument("--group", required=True, help="the consumer group: workers of one group share the entries")
    work.add_argument("--consumer", help="this worker's name in the group (default HOST-PID)")
    work.add_argument("--maxdeliveries", type=int, default=5, metavar="N",
                      help="an entry whose hooks raised N times goes to STREAM:dead (default 5)")
    work.add_argument("--claimidle", type=int, default=30000, metavar="MS",
                      help="claim entries pending this long on any worker (a dead one, or failed; default 30000)")
    work.add_argument("--batch", type=int, default=100, metavar="N", help="entries read at once (default 100)")
    work.add_argument("--block", type=int, default=1000, metavar="MS",
                      help="longest wait for new entries in one read (default 1000)")
    work.add_argument("--cluster", action=argparse.BooleanOptionalAction, default=None,
                      help="the URL names a node of a Redis Cluster (default: detected from the server)")
    work.add_argument("--start", default="0", metavar="ID",
                      help="where a new group starts: 0 = the whole stream (default), $ = new entries only")
    add_watch_flags(work, demo=False)
    add_parameter_flags(work, skip=("netaddress", "port", "active", "timeout"))
    work.set_defaults(handler=cmd_work)


def cmd_work(args: argparse.Namespace) -> int:
    work = WorkOptions(url=args.url, streams=args.stream, group=args.group, maxdeliveries=args.maxdeliveries,
                       claimidle=args.claimidle, batch=args.batch, block=args.block, start=args.start,
                       cluster=args.cluster)
    if args.consumer:
        work.consumer = args.consumer
    try:
        work.check()
    except (ValueError, RedisUnavailable) as exc:
        raise UsageError(str(exc)) from None
    dat, printer, options = make_dat(args, parameters_from(args), offline=True, factory=WorkerDAT)

    async def session() -> int:
        started = trio.current_time()
        stop = trio.Event()

        async def stop_when_counted() -> None:
            await printer.finished.wait()
            stop.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop, nursery.cancel_scope)
            nursery.start_soon(stop_when_counted)
            await nursery.start(dat.run_offline)
            start_view(dat, options, nursery)
            stats = await run_worker(dat, work, stop)
            nursery.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        sys.stderr.write(f"wsdat: {work.consumer} in group {work.group} of {', '.join(work.names)}: {stats.line()} in "
                         f"{elapsed:.1f} s\n")
        if options.save is not None:
            save_table(dat, options.save)
        return EXIT_OK

    return trio.run(session)
