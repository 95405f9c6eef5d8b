"""``make mutate``: mutation testing of the modules that decide behaviour, with mutmut, in scratch copies.

Two parts, both in copies under ``build/mutate/`` (the work tree is never touched):

1. **mutmut** over each group of modules below, running only that group's fast test files (no subprocess tests).
   mutmut also narrows each mutant to the tests that reach the mutated function, so a run stays within minutes.
   ``connection.py`` is mutated only in the functions that enforce the connection's limits.
2. **The named mutants** of issue 17 (the one-character bugs a reviewer found surviving), applied by hand as text
   replacements: each must make its named killing tests fail, and the unmutated copy must pass them.

Prints per module and overall the mutants killed, the survivors judged equivalent (``mutate/equivalent.toml``, each
with why), the survivors left, the raw ratio killed/total and the score killed/(total - equivalent); then every
survivor with its diff. Exits non-zero when the score is below 90% or a named mutant survives. Usage::

    python mutate/run.py                 # everything (what `make mutate` runs)
    python mutate/run.py closing limits  # some groups only
    python mutate/run.py --named         # the named mutants only
    python mutate/run.py --no-named      # mutmut only
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutate"
VENV_BIN = Path(sys.executable).parent
TARGET = 0.90
#: How the tests run under mutation (see tests/conftest.py).
MUTATION_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "WSDAT_HYPOTHESIS_PROFILE": "mutation", "WSDAT_TEST_WAIT": "3"}
#: mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code), folded into what the report counts.
KILLED_CODES = {1, 3, 36, 24, -24, 152, 255, 37}  # test failure, pytest error, timeout, type check
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the test files that may kill their mutants."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    #: mutmut mutant-name globs; empty: every mutant of ``modules``.
    only: tuple[str, ...] = ()


GROUPS = (
    Group("table", ("wsdat_core/model/table.py",), ("tests/model/test_table.py", "tests/model/test_boundaries.py")),
    Group("params", ("wsdat_core/model/params.py",),
          ("tests/model/test_params.py", "tests/model/test_par.py", "tests/model/test_refusals.py",
           "tests/test_docs.py::test_every_parameter_is_documented")),
    Group("address", ("wsdat_core/model/address.py",),
          ("tests/model/test_address.py", "tests/model/test_refusals.py")),
    Group("backoff", ("wsdat_core/model/backoff.py",),
          ("tests/model/test_backoff.py", "tests/model/test_boundaries.py")),
    Group("callbacks", ("wsdat_core/host/callbacks.py", "wsdat_core/host/calling.py", "wsdat_core/host/loading.py"),
          ("tests/host/", "tests/model/test_refusals.py", "tests/td/",
           "tests/integration/test_receive.py", "tests/integration/test_lifecycle.py",
           "tests/integration/test_reload.py")),
    Group("closing", ("wsdat_core/model/closing.py",),
          ("tests/model/test_closing.py", "tests/integration/test_boundaries.py::test_close_classification")),
    # the protocol: its own unit tests, the differential tests against wsproto and the every-byte cuts (a fast loop
    # that hands a frame to the careful path needlessly is invisible end to end, so integration tests add nothing)
    Group("protocol", ("wsdat_core/protocol/client.py", "wsdat_core/protocol/frames.py",
                       "wsdat_core/protocol/deflate.py", "wsdat_core/protocol/handshake.py"),
          ("tests/protocol/", "tests/integration/test_credentials.py")),
    Group("sendqueue", ("wsdat_core/runtime/sendqueue.py",),
          ("tests/runtime/test_sendqueue.py", "tests/integration/test_send.py", "tests/integration/test_awaitable.py",
           "tests/integration/test_boundaries.py::test_send_queue_at_exactly_its_limit")),
)


@dataclass(frozen=True)
class Named:
    """A mutant applied by hand: ``old`` (exactly once in ``path``) becomes ``new``; ``tests`` must fail then."""

    key: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


NAMED = (
    Named("normal-codes", "the normal close codes reduced to (1000,)", "wsdat_core/model/closing.py",
          "NORMAL_CLOSE_CODES: Final = frozenset({1000, 1001})", "NORMAL_CLOSE_CODES: Final = frozenset({1000})",
          ("tests/model/test_closing.py::test_the_server_going_away_is_not_an_error",
           "tests/integration/test_boundaries.py::test_close_classification[1001-going-away]")),
    Named("oversize-message", "the oversize check > turned into >= (a message read in parts)",
          "wsdat_core/protocol/client.py", "if inflater is None and self.size > self.limit:",
          "if inflater is None and self.size >= self.limit:",
          ("tests/integration/test_boundaries.py::test_exactly_maxmessagesize_is_accepted_one_byte_more_refused"
           "[binary-fragmented]",
           "tests/integration/test_boundaries.py::test_exactly_maxmessagesize_is_accepted_one_byte_more_refused"
           "[text-fragmented]")),
    Named("oversize-fast", "the oversize check > turned into >= (the fast loop)",
          "wsdat_core/protocol/client.py", "if stop > end or length > limit:", "if stop > end or length >= limit:",
          ("tests/protocol/test_client.py::test_a_frame_of_exactly_the_limit_is_decoded_on_the_fast_loop",)),
    Named("queue-limit-plus-one", "the send queue holding limit+1", "wsdat_core/runtime/sendqueue.py",
          "if len(self._items) >= self.limit:", "if len(self._items) > self.limit:",
          ("tests/integration/test_send.py::test_full_send_queue_refuses_and_warns_never_grows",
           "tests/integration/test_boundaries.py::test_send_queue_at_exactly_its_limit")),
    Named("backoff-never-resets", "connection_lasted(0 * ...): the backoff never resets after a stable connection",
          "wsdat_core/runtime/supervisor.py", "self.backoff.connection_lasted(trio.current_time() - opened_at)",
          "self.backoff.connection_lasted(0 * (trio.current_time() - opened_at))",
          ("tests/model/test_clock.py::test_a_stable_connection_resets_the_backoff",)),
    Named("slow-cook-counts-waits", "the slow-cook warning counting time spent waiting for async hook slots "
          "(the check after the cook)", "wsdat_core/runtime/cook.py",
          "            self._check_blocking(started, self._waited)\n            if table.size_evictions",
          "            self._check_blocking(started, 0.0)\n            if table.size_evictions",
          ("tests/model/test_clock.py::test_waiting_for_async_hook_slots_is_not_a_slow_cook",)),
    Named("slow-cook-counts-waits-in-loop", "the slow-cook warning counting time spent waiting for async hook slots "
          "(the check before each wait)", "wsdat_core/runtime/cook.py",
          "            self._check_blocking(started, self._waited)\n            clock = ",
          "            self._check_blocking(started, 0.0)\n            clock = ",
          ("tests/model/test_clock.py::test_waiting_for_async_hook_slots_is_not_a_slow_cook",)),
    Named("ping-125-refused", "a 125-byte ping refused (> turned into >=)", "wsdat_core/runtime/dat.py",
          "if limit is not None and len(data) > limit:", "if limit is not None and len(data) >= limit:",
          ("tests/integration/test_boundaries.py::test_control_payloads_of_125_bytes_pass_and_126_are_refused",)),
)


# -- scratch copies -----------------------------------------------------------------------------------------------
def _copy_tree(destination: Path) -> None:
    """The package, the tests and pyproject.toml (pytest's settings) into ``destination``, afresh."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("wsdat_core", "tests", "docs"):  # docs: a test checks every parameter is in the docs
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _existing(tests: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(test for test in tests if (ROOT / test.split("::")[0]).exists())


def _mutmut_config(group: Group) -> str:
    return "\n".join([
        "",
        "[tool.mutmut]",
        'source_paths = ["wsdat_core/"]',
        f"only_mutate = {_toml_list(group.modules)}",
        f"pytest_add_cli_args_test_selection = {_toml_list(_existing(group.tests))}",
        # no cache files in the copy, no random order; -p no:cacheprovider keeps pytest from writing .pytest_cache
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
        "use_git_change_detection = false",
        'also_copy = ["README.md", "docs/"]',
        "",
    ])


# -- mutmut ---------------------------------------------------------------------------------------------------------
@dataclass
class GroupResult:
    group: Group
    seconds: float
    by_module: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # module -> status -> mutant names
    error: str = ""


def _status(code: int | None) -> str:
    if code in KILLED_CODES:
        return "killed"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no tests"
    return "not checked" if code is None else f"suspicious ({code})"


def run_group(group: Group, workers: int) -> GroupResult:
    directory = WORK / group.name
    _copy_tree(directory)
    with (directory / "pyproject.toml").open("a") as config:
        config.write(_mutmut_config(group))
    log = directory / "mutmut.log"
    started = time.monotonic()
    # the differential fast-path test draws fewer examples per mutant (150 in `make test`)
    # property tests stop at the first failing example, unshrunk, and conditions are given up after 3 s instead of
    # 10 (tests/conftest.py)
    env = {**os.environ, **MUTATION_ENV, "WSDAT_DIFFERENTIAL_EXAMPLES": "40"}
    with log.open("w") as out:
        done = subprocess.run([str(VENV_BIN / "mutmut"), "run", "--max-children", str(workers), *group.only],
                              cwd=directory, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    result = GroupResult(group, time.monotonic() - started)
    missing = sorted(set(group.tests) - set(_existing(group.tests)))
    if missing:
        result.error = f"missing test files: {', '.join(missing)}"
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        result.error = f"mutmut exited with {done.returncode}; the end of {log.relative_to(ROOT)}:\n{tail}"
        return result
    for module in group.modules:
        meta = directory / "mutants" / (module + ".meta")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        statuses: dict[str, list[str]] = {}
        for name, code in sorted(codes.items()):
            if group.only and not any(fnmatch.fnmatch(name, pattern) for pattern in group.only):
                continue
            statuses.setdefault(_status(code), []).append(name)
        result.by_module[module] = statuses
    return result


def mutant_diff(group: Group, name: str, _cache: dict[Path, dict[str, str]] = {}) -> str:  # noqa: B006
    """The lines ``name`` changes (``-`` original, ``+`` mutant), from the mutated copy mutmut wrote: each mutant is
    a function beside the original one there (what ``mutmut show`` prints, without running mutmut per mutant)."""
    module, _, function = name.rpartition(".")
    path = WORK / group.name / "mutants" / (module.replace(".", "/") + ".py")
    if path not in _cache:
        source = path.read_text()
        lines = source.splitlines()
        _cache[path] = {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno])
                        for node in ast.walk(ast.parse(source))
                        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    functions = _cache[path]
    original = function.rsplit("_", 1)[0] + "_orig"
    # the def line too (a mutated default argument), with the generated names made alike
    before = functions.get(original, "").replace(original, "FUNCTION", 1).splitlines()
    after = functions.get(function, "").replace(function, "FUNCTION", 1).splitlines()
    return "\n".join(line for line in difflib.unified_diff(before, after, lineterm="", n=0)
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def load_equivalent() -> dict[str, dict[str, str]]:
    """``mutate/equivalent.toml``: survivors judged equivalent, by mutant name, each with the mutated line and why."""
    path = ROOT / "mutate" / "equivalent.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {entry["mutant"]: entry for entry in data.get("equivalent", [])}


# -- named mutants --------------------------------------------------------------------------------------------------
def _pytest(directory: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # python -m pytest from the copy: the copy's wsdat_core comes first on sys.path (before the editable install)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                          cwd=directory, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **MUTATION_ENV})


def run_named(selected: tuple[Named, ...]) -> list[tuple[Named, str, str]]:
    """Each named mutant: ("killed" | "SURVIVED" | "ERROR", the last line of pytest's output)."""
    results: list[tuple[Named, str, str]] = []
    clean = WORK / "named-clean"
    _copy_tree(clean)
    every_test = tuple(dict.fromkeys(test for named in selected for test in named.tests))
    baseline = _pytest(clean, every_test)
    if baseline.returncode != 0:
        raise SystemExit("the killing tests fail without any mutant:\n" + baseline.stdout[-3000:])
    for named in selected:
        directory = WORK / f"named-{named.key}"
        _copy_tree(directory)
        source = directory / named.path
        text = source.read_text()
        if text.count(named.old) != 1:
            results.append((named, "ERROR", f"{named.old!r} is not in {named.path} exactly once"))
            continue
        source.write_text(text.replace(named.old, named.new))
        failed = []
        for test in named.tests:  # each test on its own: every named test must kill the mutant
            done = _pytest(directory, (test,))
            if done.returncode == 0:
                failed.append(test)
        verdict = "killed" if not failed else "SURVIVED"
        detail = "all named tests fail" if not failed else "passes: " + ", ".join(failed)
        results.append((named, verdict, detail))
        shutil.rmtree(directory)
    shutil.rmtree(clean)
    return results


# -- report ---------------------------------------------------------------------------------------------------------
def report(results: list[GroupResult], equivalent: dict[str, dict[str, str]]) -> tuple[bool, list[str]]:
    """Print the table and the survivors; True when the target is met and every survivor is judged.

    The score is the usual one: killed / (mutants - survivors judged equivalent); the raw killed / mutants is shown
    beside it.
    """
    ok = True
    lines: list[str] = []
    sums = [0, 0, 0]  # killed, judged equivalent, total
    print()
    print(f"{'module':<28}{'killed':>8}{'equiv.':>8}{'left':>6}{'total':>7}{'raw':>8}{'score':>8}")
    for result in results:
        if result.error:
            ok = False
            print(f"{result.group.name}: {result.error}")
        for module, statuses in result.by_module.items():
            killed = len(statuses.get("killed", []))
            count = sum(len(names) for names in statuses.values())
            judged = 0
            for status, names in statuses.items():
                if status == "killed":
                    continue
                for name in names:
                    diff = mutant_diff(result.group, name)
                    entry = equivalent.get(name)
                    if entry is not None and entry.get("line", "") in diff:
                        judged += 1
                        mark = f"equivalent: {entry['why']}"
                    else:
                        mark = "NOT JUDGED" + (" (the listed line no longer matches)" if entry else "")
                    lines.append(f"{status}: {name}  [{mark}]\n{_indent(diff)}")
            left = count - killed - judged
            sums[0] += killed
            sums[1] += judged
            sums[2] += count
            print(f"{module:<28}{killed:>8}{judged:>8}{left:>6}{count:>7}{_ratio(killed, count):>8}"
                  f"{_ratio(killed, count - judged):>8}")
    killed, judged, total = sums
    score = killed / (total - judged) if total > judged else 1.0
    print(f"{'overall':<28}{killed:>8}{judged:>8}{total - killed - judged:>6}{total:>7}{_ratio(killed, total):>8}"
          f"{_ratio(killed, total - judged):>8}")
    print(f"mutmut time: {sum(result.seconds for result in results):.0f} s "
          f"({', '.join(f'{r.group.name} {r.seconds:.0f} s' for r in results)})")
    if score < TARGET:
        ok = False
        print(f"score below the target of {TARGET:.0%}")
    return ok, lines


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default all): {', '.join(g.name for g in GROUPS)}")
    parser.add_argument("--named", action="store_true", help="only the named mutants of issue 17")
    parser.add_argument("--no-named", action="store_true", help="skip the named mutants")
    parser.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 2, help="mutmut's worker processes")
    args = parser.parse_args()
    unknown = set(args.groups) - {group.name for group in GROUPS}
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    ok = True
    if not args.named:
        groups = [group for group in GROUPS if not args.groups or group.name in args.groups]
        results = []
        for group in groups:
            print(f"mutmut: {group.name} ({', '.join(group.modules)}) ...", flush=True)
            results.append(run_group(group, args.workers))
        ok, survivors = report(results, load_equivalent())
        if survivors:
            print("\nsurvivors:")
            print("\n".join(survivors))
    if not args.no_named and not args.groups:
        print("\nnamed mutants (issue 17), applied by hand:")
        for named, verdict, detail in run_named(NAMED):
            ok = ok and verdict == "killed"
            print(f"  {verdict:<9} {named.key}: {named.what}\n            {detail}; killed by "
                  + ", ".join(re.sub(r"^tests/", "", test) for test in named.tests))
    print(f"\nmake mutate: {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
