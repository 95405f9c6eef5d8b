"""Autobahn|Testsuite conformance runs: the WebSocket DAT as a client, and ``wsdat serve`` as a server.

This script starts the Autobahn|Testsuite fuzzing server (``wstest -m fuzzingserver``) as a subprocess on a loopback
port, runs one wsdat DAT per test case against it through wsdat's public API (``wsdat_core.WebSocketDAT`` under
``trio.run``), with callbacks that echo every text and binary message back, then asks the server to write its
reports and prints, per case group (1, 2, ..., 13), the counts of each ``behavior`` and ``behaviorClose``, and one
line per FAILED (and NON-STRICT) case with its id, description and the report's ``result`` text. wstest's spec, log
and reports land in ``--outdir``, with ``wsdat-client.json``: what the DAT received and said in each case.

Exit status: 0 when no case FAILED (neither its ``behavior`` nor its ``behaviorClose``) and every case has a result
in wstest's ``index.json``; 1 otherwise; 2 when ``wstest`` is missing, could not be started or died, or on bad
arguments.

It is not part of ``make test``: it needs a ``wstest`` command, which wsdat neither ships nor installs. Install the
Autobahn|Testsuite yourself, e.g. its Python 3 port, into a separate venv (not wsdat's), then put its ``wstest`` on
PATH or name it in ``$WSTEST``. This script never installs anything.

Note: ``wstest``'s fuzzing server listens on the given port on every interface of the machine (the testsuite's own
behaviour; the URL in the spec only names the port). The script connects to it on 127.0.0.1 only and turns the
testsuite's extra HTTP server off (``--webport 0``); run it in a network namespace of its own (``unshare -n``) if
the port must not be reachable from elsewhere.

With ``--mode fuzzingclient`` the roles turn: ``wsdat serve`` (the Web Server DAT) runs as a subprocess on a
loopback port with a callbacks file that echoes every text and binary message (``webSocketSendText`` /
``webSocketSendBinary``), and ``wstest -m fuzzingclient`` runs every case against it; the same table and lists are
printed, and the server's status lines land in ``OUTDIR/wsdat-serve.log``.

Usage::

    python conformance/run.py                          # cases 1.* to 7.*, 9.*, 10.*
    python conformance/run.py --cases '12.*,13.*'      # compression (permessage-deflate)
    WSTEST=/path/to/wstest python conformance/run.py --outdir reports --timeout 120
    python conformance/run.py --mode fuzzingclient --cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*'
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import trio

from wsdat_core import WebSocketDAT

DEFAULT_CASES: Final = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
BEHAVIORS: Final = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
CLOSE_BEHAVIORS: Final = ("OK", "INFORMATIONAL", "NON-STRICT", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "FAILED")
#: Cases 9.* send messages of up to 16 MiB; leave room.
MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
#: Far above what any case has in flight (9.7/9.8 send one message at a time), so an echo is never refused.
SEND_QUEUE_SIZE: Final = 100_000
#: Seconds to wait for wstest to listen on its port.
STARTUP_TIMEOUT: Final = 30.0
#: Seconds a control connection (case count, case info) may take.
CONTROL_TIMEOUT: Final = 60.0
#: Seconds wstest may take to write its reports.
REPORT_TIMEOUT: Final = 300.0
#: Seconds without a report file written, after index.json, that mean wstest's report writing is stuck.
REPORT_QUIET: Final = 10.0
LOOPBACK: Final = "127.0.0.1"
#: wstest's output, in the output directory.
LOG_NAME: Final = "wstest.log"


class WstestError(Exception):
    """wstest could not be started or stopped answering."""


# ---------------------------------------------------------------------------------------------------- the client side
@dataclass
class CaseRun:
    """What the DAT saw and did during one case (the client's side of the story)."""

    number: int
    case_id: str = "?"
    description: str = ""
    connected: bool = False
    texts: int = 0
    binaries: int = 0
    pings: int = 0
    refused: int = 0  # echoes refused by sendText/sendBinary (-1)
    timed_out: bool = False
    seconds: float = 0.0
    monitor: list[str] = field(default_factory=list)

    @property
    def last_monitor(self) -> str:
        """The DAT's last status line (usually how the connection ended)."""
        return self.monitor[-1] if self.monitor else ""

    def summary(self) -> str:
        """One line: what wsdat did in this case."""
        parts = [f"received {self.texts} text + {self.binaries} binary message(s), {self.pings} ping(s)"]
        if self.refused:
            parts.append(f"{self.refused} echo(es) REFUSED (send queue full)")
        if not self.connected:
            parts.append("never connected")
        if self.timed_out:
            parts.append(f"no disconnect within the timeout, stopped after {self.seconds:.1f} s")
        if self.last_monitor:
            parts.append(f"last status: {self.last_monitor}")
        return "; ".join(parts)


class EchoCallbacks:
    """The DAT's callbacks for a case: echo text and binary messages, note status lines, signal the disconnect."""

    def __init__(self, run: CaseRun, echo: bool = True) -> None:
        self.run = run
        self.echo = echo
        self.texts: list[str] = []
        self.disconnected = trio.Event()

    def onReceiveText(self, dat: WebSocketDAT, rowIndex: int, message: str) -> None:
        self.run.texts += 1
        if not self.echo:
            self.texts.append(message)
        elif dat.sendText(message) == -1:
            self.run.refused += 1

    def onReceiveBinary(self, dat: WebSocketDAT, contents: bytes) -> None:
        self.run.binaries += 1
        if self.echo and dat.sendBinary(contents) == -1:
            self.run.refused += 1

    def onReceivePing(self, dat: WebSocketDAT, contents: bytes) -> None:
        self.run.pings += 1  # the pong is sent by the connection itself

    def onMonitorMessage(self, dat: WebSocketDAT, message: str) -> None:
        self.run.monitor.append(message)

    def onDisconnect(self, dat: WebSocketDAT) -> None:
        self.disconnected.set()


async def run_dat(url: str, callbacks: EchoCallbacks, timeout: float,
                  give_up: Callable[[], bool] | None = None) -> None:
    """Connect one DAT to ``url``, wait until the server ends the connection (at most ``timeout`` s, or until
    ``give_up()``, asked twice a second, is true), then stop it."""
    run = callbacks.run
    dat = WebSocketDAT(
        f"autobahn-{run.number}",
        netaddress=url,
        reconnect=False,
        maxmessagesize=MAX_MESSAGE_SIZE,
        pinginterval=0,
        sendqueuesize=SEND_QUEUE_SIZE,
        maxlines=1,
        callbacks=[callbacks],
    )
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)  # returns after the first connect attempt (and onConnect)
        run.connected = dat.info.connects > 0
        if run.connected:
            with trio.move_on_after(timeout) as waiting:
                while not callbacks.disconnected.is_set():
                    if give_up is not None and give_up():
                        waiting.cancel()
                        break
                    with trio.move_on_after(0.5):
                        await callbacks.disconnected.wait()
            run.timed_out = not callbacks.disconnected.is_set()
        dat.stop()
    run.seconds = trio.current_time() - started


async def fetch_texts(url: str, timeout: float = CONTROL_TIMEOUT) -> list[str]:
    """The text messages a control URL of the fuzzing server sends before it closes."""
    callbacks = EchoCallbacks(CaseRun(0), echo=False)
    await run_dat(url, callbacks, timeout)
    if not callbacks.run.connected or callbacks.run.timed_out:
        raise WstestError(f"{url}: {callbacks.run.summary()}")
    return callbacks.texts


async def client_main(base: str, agent: str, timeout: float, runs: list[CaseRun], log_path: Path,
                      alive: Callable[[], bool]) -> list[str]:
    """Run every case with a watch for SIGINT/SIGTERM/SIGHUP; raise :class:`Interrupted` when one came.

    Returns warnings about the report update."""
    signalled: list[int] = []
    failure: WstestError | None = None
    warnings: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, nursery.cancel_scope, signalled)
        try:
            await run_cases(base, agent, timeout, runs, alive)
            warnings = await update_reports(base, agent, log_path)
        except WstestError as exc:
            failure = exc
        nursery.cancel_scope.cancel()
    if signalled:
        raise Interrupted(signalled[0])
    if failure is not None:
        raise failure
    return warnings


async def run_cases(base: str, agent: str, timeout: float, runs: list[CaseRun], alive: Callable[[], bool]) -> None:
    """Fetch the case list, run every case in order (one progress line per case group).

    When a case cannot connect, or ``alive()`` says wstest has exited, raise :class:`WstestError`."""
    texts = await fetch_texts(f"{base}/getCaseCount")
    count = int(json.loads(texts[0]))
    for number in range(1, count + 1):
        info = json.loads((await fetch_texts(f"{base}/getCaseInfo?case={number}"))[0])
        runs.append(CaseRun(number, str(info["id"]), str(info["description"])))
    groups = Counter(group_of(run.case_id) for run in runs)
    print(f"{count} cases in {len(groups)} group(s): "
          + ", ".join(f"{group}: {n}" for group, n in sorted(groups.items())), flush=True)
    agent_q = quote(agent, safe="")
    for group in sorted(groups, key=lambda g: min(r.number for r in runs if group_of(r.case_id) == g)):
        members = [run for run in runs if group_of(run.case_id) == group]
        print(f"group {group:>2}: {len(members)} case(s) ...", end="", flush=True)
        group_started = time.monotonic()
        for run in members:
            await run_dat(f"{base}/runCase?case={run.number}&agent={agent_q}", EchoCallbacks(run), timeout)
            if not run.connected or not alive():  # a running fuzzing server always accepts: stop here
                print(flush=True)
                state = "still runs" if alive() else "has exited"
                raise WstestError(f"case {run.case_id}: {run.summary()}; wstest {state}")
        late = sum(run.timed_out for run in members)
        refused = sum(run.refused for run in members)
        extra = (f", {late} client timeout(s)" if late else "") + (f", {refused} refused echo(es)" if refused else "")
        print(f" done in {time.monotonic() - group_started:.1f} s{extra}", flush=True)


async def update_reports(base: str, agent: str, log_path: Path) -> list[str]:
    """Ask wstest to write its reports (``index.json`` first, then one report per case) and wait until it has.

    When wstest fails while writing them it never closes the connection: once ``index.json`` is there and nothing
    has been written for ``REPORT_QUIET`` seconds, stop waiting and return a warning (the counts in ``index.json``
    are complete, case reports after the failing one are missing).
    """
    outdir = log_path.parent

    def stuck() -> bool:
        if not (outdir / "index.json").exists():
            return False
        with os.scandir(outdir) as entries:
            newest = max((entry.stat().st_mtime for entry in entries if entry.name != log_path.name), default=0.0)
        return time.time() - newest > REPORT_QUIET

    callbacks = EchoCallbacks(CaseRun(0), echo=False)
    await run_dat(f"{base}/updateReports?agent={quote(agent, safe='')}", callbacks, REPORT_TIMEOUT, stuck)
    if not callbacks.run.connected:
        raise WstestError(f"/updateReports: {callbacks.run.summary()}")
    if not callbacks.run.timed_out:
        return []
    return [f"wstest stopped answering while writing its reports (see {log_path}); it writes index.json first, so "
            "the counts below are complete, but case reports after the one it failed on are missing"]


class Interrupted(Exception):
    """A signal asked the run to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _watch_signals(scope: trio.CancelScope, signalled: list[int]) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            signalled.append(signum)
            scope.cancel()
            return


def group_of(case_id: str) -> int:
    """The case group of an id such as ``9.7.6``: ``9``."""
    head = case_id.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


# ------------------------------------------------------------------------------------------------------ the server
def find_wstest() -> list[str] | None:
    """The wstest command: ``$WSTEST`` (a path, or a command line) or ``wstest`` on PATH; None when there is none."""
    given = os.environ.get("WSTEST", "").strip()
    if given:
        argv = shlex.split(given)
        program = shutil.which(argv[0])
        return [program, *argv[1:]] if program else None
    program = shutil.which("wstest")
    return [program] if program else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wstest_version(wstest: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([*wstest, "-a"], capture_output=True, text=True, timeout=60)
        return ", ".join(line.strip() for line in done.stdout.splitlines() if line.strip())
    return "version unknown"


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def last_error(path: Path) -> str:
    """The exception line that ends the last traceback in wstest's log, or ''."""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        if starts:
            after = [line for line in lines[starts[-1]:] if line and not line.startswith((" ", "Traceback"))]
            return after[0] if after else ""
    return ""


@contextlib.contextmanager
def fuzzing_server(wstest: list[str], spec: dict[str, Any], port: int,
                   outdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``wstest -m fuzzingserver`` with ``spec`` until the block ends; wait until it listens on ``port``."""
    spec_path = outdir / "fuzzingserver.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    log_path = outdir / LOG_NAME
    with log_path.open("wb") as log:
        process = subprocess.Popen([*wstest, "-m", "fuzzingserver", "-s", str(spec_path), "--webport", "0"],
                                   cwd=outdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})  # its log, line by line
        try:
            wait_listening(process, port, "wstest")
            yield process
        finally:
            end_process(process)


def wait_listening(process: subprocess.Popen[bytes], port: int, what: str) -> None:
    """Wait until something listens on ``LOOPBACK:port``; WstestError when ``process`` died or took too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise WstestError(f"{what} exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise WstestError(f"{what} did not listen on {LOOPBACK}:{port} within {STARTUP_TIMEOUT:g} s")
        time.sleep(0.1)


def end_process(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Stop ``process`` with ``signum`` if it still runs (killed after 10 s)."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------------------------------ the report
@dataclass
class Outcome:
    case_id: str
    behavior: str
    behavior_close: str
    report: dict[str, Any]


def read_results(outdir: Path, agent: str) -> dict[str, Outcome]:
    """The agent's results from ``OUTDIR/index.json`` with each case's own JSON report."""
    index = json.loads((outdir / "index.json").read_text())
    results: dict[str, Outcome] = {}
    for case_id, entry in index.get(agent, {}).items():
        report: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            report = json.loads((outdir / entry["reportfile"]).read_text())
        results[case_id] = Outcome(case_id, entry["behavior"], entry["behaviorClose"], report)
    return results


def results_or_none(outdir: Path, agent: str, how: str = "") -> dict[str, Outcome] | None:
    """:func:`read_results`, or None after one line saying why they cannot be read (``how``: how wstest ended)."""
    try:
        return read_results(outdir, agent)
    except (OSError, ValueError, KeyError) as exc:
        print(f"run.py: cannot read wstest's {outdir / 'index.json'}{how}: {exc}; see {outdir / LOG_NAME}:\n"
              f"{log_tail(outdir / LOG_NAME)}", file=sys.stderr)
        return None


def report(agent: str, runs: list[CaseRun], results: dict[str, Outcome], seconds: float, outdir: Path) -> int:
    """The table, the FAILED cases and the imperfect ones; returns how many FAILED."""
    print(f"\nResults for agent {agent} ({len(runs)} cases, {seconds:.0f} s; reports: {outdir / 'index.html'}):")
    print_table(runs, results)
    failed = print_cases("FAILED cases", runs, results, {"FAILED"}, {"FAILED"})
    print_cases("NON-STRICT cases and imperfect closes (not failures)", runs, results, {"NON-STRICT"},
                set(CLOSE_BEHAVIORS) - {"OK", "INFORMATIONAL", "FAILED"})
    return failed


def case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in case_id.split("."))


def print_table(runs: list[CaseRun], results: dict[str, Outcome]) -> None:
    """Per case group: the counts of each behavior, of cases without a report, and of each behaviorClose that
    occurred (``OK`` always shown)."""
    seen = {o.behavior_close for o in results.values()}
    closes: list[str] = [name for name in CLOSE_BEHAVIORS if name == "OK" or name in seen]
    closes += sorted(seen - set(closes))
    behaviors: list[str] = [*BEHAVIORS, *sorted({o.behavior for o in results.values()} - set(BEHAVIORS))]
    header = ["group", "cases", *behaviors, "missing", "|", *(f"close:{name}" for name in closes)]
    rows: list[list[str]] = []
    groups = sorted({group_of(run.case_id) for run in runs})
    for group in [*groups, None]:
        members = [run for run in runs if group is None or group_of(run.case_id) == group]
        found = [results[run.case_id] for run in members if run.case_id in results]
        behavior = Counter(o.behavior for o in found)
        close = Counter(o.behavior_close for o in found)
        rows.append([str(group) if group is not None else "all", str(len(members)),
                     *(str(behavior[name]) for name in behaviors), str(len(members) - len(found)), "|",
                     *(str(close[name]) for name in closes)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_cases(title: str, runs: list[CaseRun], results: dict[str, Outcome], behaviors: set[str],
                closes: set[str]) -> int:
    """One line (plus details) per case whose behavior is in ``behaviors`` or whose behaviorClose is in ``closes``;
    returns how many."""
    shown = 0
    for run in sorted(runs, key=lambda r: case_key(r.case_id)):
        outcome = results.get(run.case_id)
        if outcome is None or (outcome.behavior not in behaviors and outcome.behavior_close not in closes):
            continue
        if not shown:
            print(f"\n{title}:")
        shown += 1
        report = outcome.report
        description = " ".join(re.sub(r"<[^>]*>", "", str(report.get("description", run.description))).split())
        print(f"{run.case_id} [{outcome.behavior} / close {outcome.behavior_close}] {description}")
        if not report:
            print("    result: ? (wstest wrote no report for this case)")
            print(f"    wsdat: {run.summary()}")
            continue
        print(f"    expectation: {' '.join(str(report.get('expectation', '?')).split())}")
        print(f"    result: {report.get('result', '?')}")
        if outcome.behavior_close != "OK":
            print(f"    resultClose: {report.get('resultClose', '?')} (server's close code "
                  f"{report.get('localCloseCode')}, wsdat's {report.get('remoteCloseCode')})")
        print(f"    wsdat: {run.summary()}")
    return shown


def print_missing(runs: list[CaseRun], results: dict[str, Outcome]) -> int:
    missing = [run for run in runs if run.case_id not in results]
    if missing:
        print("\nCases without a result in index.json:")
        for run in missing:
            print(f"{run.case_id} {run.description}\n    wsdat: {run.summary()}")
    return len(missing)


# ------------------------------------------------------------------------------------------------------ wsdat serve
#: The callbacks of ``wsdat serve`` in --mode fuzzingclient: TouchDesigner's way of echoing.
ECHO_CALLBACKS: Final = """\
def onWebSocketReceiveText(webServerDAT, client, data):
    webServerDAT.webSocketSendText(client, data)

def onWebSocketReceiveBinary(webServerDAT, client, data):
    webServerDAT.webSocketSendBinary(client, data)
"""
#: Far above what any case has in flight (9.* echo messages of up to 16 MiB), so an echo is never refused.
SERVER_QUEUE_BYTES: Final = 256 * 1024 * 1024
#: Seconds the whole fuzzing client run may take.
CLIENT_RUN_TIMEOUT: Final = 3600.0


@dataclass
class ServedCase(CaseRun):
    """A case run by wstest's fuzzing client against ``wsdat serve`` (what the server saw is in its log)."""

    def summary(self) -> str:
        return "wsdat serve echoed (its status lines: wsdat-serve.log)"


@contextlib.contextmanager
def wsdat_serve(port: int, outdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``wsdat serve 127.0.0.1:PORT`` echoing, until the block ends; waits until it listens."""
    callbacks = outdir / "echo_callbacks.py"
    callbacks.write_text(ECHO_CALLBACKS)
    with (outdir / "wsdat-serve.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "wsdat_core", "serve", f"{LOOPBACK}:{port}", "--callbacks",
                                    str(callbacks), "--no-stdin", "--output", "jsonl", "--maxmessagesize",
                                    str(MAX_MESSAGE_SIZE), "--sendqueuebytes", str(SERVER_QUEUE_BYTES),
                                    "--pinginterval", "0"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_listening(process, port, "wsdat serve")
            yield process
        finally:
            end_process(process, signal.SIGINT)


def run_fuzzing_client(wstest: list[str], spec_path: Path, outdir: Path) -> str:
    """Run ``wstest -m fuzzingclient`` until it exits, or until its report writing is stuck (index.json written, then
    no report file for :data:`REPORT_QUIET` seconds: the known bytes-reason bug of cases 7.3.4 to 7.3.6); returns how
    it ended."""
    with (outdir / LOG_NAME).open("wb") as log:
        process = subprocess.Popen([*wstest, "-m", "fuzzingclient", "-s", str(spec_path)], cwd=outdir,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + CLIENT_RUN_TIMEOUT
            while process.poll() is None:
                index = outdir / "index.json"
                if index.exists():
                    newest = max(path.stat().st_mtime for path in outdir.glob("*.json"))
                    if time.time() - newest > REPORT_QUIET:
                        print(f"run.py: warning: wstest stopped writing case reports ({last_error(outdir / LOG_NAME)})"
                              "; it writes index.json first, so the counts below are complete", file=sys.stderr)
                        return "stopped: its report writing was stuck"
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(process.args, CLIENT_RUN_TIMEOUT)
                time.sleep(0.5)
            return f"exited with status {process.returncode}"
        finally:
            end_process(process)


def main_fuzzingclient(args: argparse.Namespace, wstest: list[str], port: int, outdir: Path) -> int:
    """wstest's fuzzing client against ``wsdat serve``; the same report as the DAT's run."""
    spec = {"outdir": str(outdir), "servers": [{"agent": args.agent, "url": f"ws://{LOOPBACK}:{port}"}],
            "cases": args.case_patterns, "exclude-cases": [], "exclude-agent-cases": {}}
    spec_path = outdir / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    print(f"wstest: {shlex.join(wstest)} ({wstest_version(wstest)})")
    print(f"cases {', '.join(args.case_patterns)}; wsdat serve on ws://{LOOPBACK}:{port}; agent {args.agent}; "
          f"reports in {outdir}", flush=True)
    (outdir / "index.json").unlink(missing_ok=True)
    started = time.monotonic()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_keyboard_interrupt)
    try:
        with wsdat_serve(port, outdir):
            status = run_fuzzing_client(wstest, spec_path, outdir)
    except WstestError as exc:
        print(f"run.py: {exc}; see {outdir / 'wsdat-serve.log'}:\n{log_tail(outdir / 'wsdat-serve.log')}",
              file=sys.stderr)
        return 2
    except (KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        print(f"\nrun.py: {'interrupted' if isinstance(exc, KeyboardInterrupt) else 'timed out'}: stopped, and "
              "wsdat serve with it", file=sys.stderr)
        return 130
    results = results_or_none(outdir, args.agent, f" (wstest {status})")
    if results is None:
        return 2
    runs: list[CaseRun] = [ServedCase(number, case_id, str(outcome.report.get("description", "")), connected=True)
                           for number, (case_id, outcome) in
                           enumerate(sorted(results.items(), key=lambda item: case_key(item[0])), 1)]
    failed = report(args.agent, runs, results, time.monotonic() - started, outdir)
    print(f"\n{failed} case(s) FAILED of {len(runs)}.")
    return 1 if failed or not runs else 0


# ------------------------------------------------------------------------------------------------------ main
def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the Autobahn|Testsuite fuzzing server against wsdat's WebSocket DAT (as a client), or its "
                    "fuzzing client against `wsdat serve` (--mode fuzzingclient).",
        epilog="Needs a wstest command on PATH or in $WSTEST (install the Autobahn|Testsuite yourself, e.g. its "
               "Python 3 port, into a separate venv). Exit status: 0 nothing failed, 1 failures, 2 no wstest.")
    parser.add_argument("--cases", default=DEFAULT_CASES,
                        help=f"comma-separated case patterns (default: {DEFAULT_CASES}); e.g. '12.*,13.*'")
    parser.add_argument("--port", type=int, default=0, help="fuzzing server port (default: a free port)")
    parser.add_argument("--outdir", type=Path, default=None,
                        help="where wstest writes its spec, log and reports (default: a new temporary directory)")
    parser.add_argument("--agent", default="wsdat", help="agent name in the reports (default: wsdat)")
    parser.add_argument("--mode", choices=("fuzzingserver", "fuzzingclient"), default="fuzzingserver",
                        help="fuzzingserver: wstest's server against the DAT as a client (default); fuzzingclient: "
                             "wstest's client against `wsdat serve` echoing")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for one case to end before the DAT is stopped (default: 120)")
    args = parser.parse_args(argv)
    args.case_patterns = [pattern.strip() for pattern in args.cases.split(",") if pattern.strip()]
    if not args.case_patterns:
        parser.error("--cases: no case pattern given")
    if not 0 <= args.port <= 65535:
        parser.error("--port: must be 0..65535")
    if args.timeout <= 0:
        parser.error("--timeout: must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wstest = find_wstest()
    if wstest is None:
        where = f"$WSTEST ({os.environ['WSTEST']!r}) is not a command" if os.environ.get("WSTEST", "").strip() \
            else "no wstest on PATH"
        print(f"run.py: {where}: install the Autobahn|Testsuite (e.g. its Python 3 port) into a separate venv and "
              "put its wstest on PATH or set WSTEST=/path/to/wstest", file=sys.stderr)
        return 2
    port = args.port or free_port()
    outdir: Path = (args.outdir or Path(tempfile.mkdtemp(prefix="wsdat-autobahn-"))).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if args.mode == "fuzzingclient":
        return main_fuzzingclient(args, wstest, port, outdir)
    spec = {
        "url": f"ws://{LOOPBACK}:{port}",
        "outdir": str(outdir),
        "cases": args.case_patterns,
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    print(f"wstest: {shlex.join(wstest)} ({wstest_version(wstest)})")
    print(f"cases {', '.join(args.case_patterns)}; server ws://{LOOPBACK}:{port}; agent {args.agent}; "
          f"reports in {outdir}", flush=True)
    (outdir / "index.json").unlink(missing_ok=True)  # an earlier run's index must not pass for this one's
    runs: list[CaseRun] = []
    started = time.monotonic()
    # Outside trio (starting and stopping wstest), SIGTERM and SIGHUP unwind like Ctrl-C, so wstest is stopped.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_keyboard_interrupt)
    try:
        with fuzzing_server(wstest, spec, port, outdir) as server:
            warnings = trio.run(client_main, f"ws://{LOOPBACK}:{port}", args.agent, args.timeout, runs,
                                outdir / LOG_NAME, lambda: server.poll() is None)
    except WstestError as exc:
        print(f"run.py: {exc}; {outdir / LOG_NAME} ends with:\n{log_tail(outdir / LOG_NAME)}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"\nrun.py: {exc}: stopped, and wstest with it", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("\nrun.py: interrupted: stopped, and wstest with it", file=sys.stderr)
        return 130
    finally:
        (outdir / "wsdat-client.json").write_text(json.dumps([vars(run) for run in runs], indent=1) + "\n")
    for warning in warnings:
        print(f"run.py: warning: {warning}", file=sys.stderr)
    if warnings:
        error = last_error(outdir / LOG_NAME)  # Twisted logs an unhandled error when the connection is gone
        if error:
            print(f"run.py: wstest's last error: {error}", file=sys.stderr)
    results = results_or_none(outdir, args.agent)
    if results is None:
        return 2
    failed = report(args.agent, runs, results, time.monotonic() - started, outdir)
    missing = print_missing(runs, results)
    unwritten = sum(1 for outcome in results.values() if not outcome.report)
    print(f"\n{failed} case(s) FAILED, {missing} without a result"
          + (f"; wstest wrote no case report for {unwritten} case(s)" if unwritten else "") + ".")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
