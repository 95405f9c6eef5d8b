"""The plugin host: references, TD-style files, Execute from, errors, async hooks, installed plugins."""

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from wsdat_core import ParameterError, PluginError, hookimpl
from wsdat_core.host.callbacks import CallbackHost, list_plugins, load_plugin
from wsdat_core.host.hookspecs import TD_HOOK_NAMES

DATA = Path(__file__).parent.parent / "data"


class StoreDAT:
    """The smallest object that behaves like a DAT toward a callbacks file: storage and a send log."""

    def __init__(self) -> None:
        self.storage: dict[str, Any] = {}
        self.sent: list[str] = []

    def store(self, key: str, value: Any) -> None:
        self.storage[key] = value

    def fetch(self, key: str, default: Any = None) -> Any:
        return self.storage.get(key, default)

    def sendText(self, *parts: str) -> int:
        self.sent.append("".join(parts))
        return len(self.sent[-1])


class Errors:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, BaseException]] = []

    def __call__(self, hook: str, plugin: str, exc: BaseException) -> None:
        self.seen.append((hook, plugin, exc))


def host_for(*refs: object, executeloc: str = "current", fromop: str = "", **kw: Any) -> tuple[CallbackHost, StoreDAT,
                                                                                              Errors]:
    dat, errors = StoreDAT(), Errors()
    host = CallbackHost(dat, errors, **kw)
    host.configure(refs, executeloc, fromop)
    return host, dat, errors


def test_td_callbacks_file_runs_unchanged() -> None:
    host, dat, errors = host_for(str(DATA / "td_callbacks.py"))
    for name in TD_HOOK_NAMES:
        assert host.implements(name)
    host.call("onConnect")
    host.call("onReceiveText", rowIndex=3, message="ping me")
    host.call("onReceiveBinary", contents=bytearray(b"\x01"))
    host.call("onReceivePing", contents=b"p")
    host.call("onReceivePong", contents=b"q")
    host.call("onMonitorMessage", message="connected")
    host.call("onDisconnect")
    assert dat.storage == {"connected": 1, "last": (3, "ping me"), "binary": b"\x01", "ping": b"p", "pong": b"q",
                           "monitor": ["connected"], "disconnected": 1}
    assert dat.sent == ["pinged you"]
    assert errors.seen == []


def test_subset_of_arguments_and_me_argument() -> None:
    got: list[tuple[str, object]] = []

    class Plugin:
        def onReceiveText(self, message: str) -> None:
            got.append(("message only", message))

        def onConnect(self, me: object) -> None:
            got.append(("me", me))

    host, dat, _ = host_for(Plugin())
    host.call("onReceiveText", rowIndex=1, message="m")
    host.call("onConnect")
    assert got == [("message only", "m"), ("me", dat)]


def test_execute_from_callbacks_gives_each_hook_its_own_plugin_as_me() -> None:
    seen: list[object] = []

    class A:
        def onConnect(self, me: object) -> None:
            seen.append(me)

    a, b = A(), A()
    host, _, _ = host_for(a, b, executeloc="callbacks")
    host.call("onConnect")
    assert sorted(map(id, seen)) == sorted([id(a), id(b)])


def test_execute_from_op_uses_the_fromop_object_from_module_or_namespace() -> None:
    target = types.SimpleNamespace(name="target")
    module = types.ModuleType("wsdat_test_fromop")
    module.target = target  # type: ignore[attr-defined]
    sys.modules["wsdat_test_fromop"] = module
    seen: list[object] = []

    class P:
        def onConnect(self, me: object) -> None:
            seen.append(me)

    host, _, _ = host_for(P(), executeloc="op", fromop="wsdat_test_fromop:target")
    host.call("onConnect")
    other = object()
    host2, _, _ = host_for(P(), executeloc="op", fromop="websocket2", namespace={"websocket2": other})
    host2.call("onConnect")
    assert seen == [target, other]


def test_fromop_that_cannot_be_found_is_a_clear_error() -> None:
    with pytest.raises(ParameterError, match="^fromop: 'nope:thing'"):
        host_for(str(DATA / "td_callbacks.py"), executeloc="op", fromop="nope:thing")
    with pytest.raises(ParameterError, match=r"a DAT name \(websocket1\)"):
        host_for(str(DATA / "td_callbacks.py"), executeloc="op", fromop="websocketX",
                 namespace={"websocket1": object()})


def test_a_raising_hook_is_reported_and_the_others_still_run() -> None:
    calls: list[str] = []

    class Bad:
        def onReceiveText(self, message: str) -> None:
            raise RuntimeError("boom")

    class Good:
        def onReceiveText(self, message: str) -> None:
            calls.append(message)

    host, _, errors = host_for(Bad(), Good())
    assert not host.call("onReceiveText", rowIndex=1, message="x")
    assert calls == ["x"]
    [(hook, plugin, exc)] = errors.seen
    assert hook == "onReceiveText" and "Bad" in plugin and str(exc) == "boom"


def test_hookimpl_marker_and_tryfirst_order() -> None:
    order: list[str] = []

    class Late:
        @hookimpl(trylast=True)
        def onConnect(self) -> None:
            order.append("late")

    class Early:
        @hookimpl(tryfirst=True)
        def onConnect(self) -> None:
            order.append("early")

    host, _, _ = host_for(Late(), Early())
    host.call("onConnect")
    assert order == ["early", "late"]


def test_marked_and_unmarked_hooks_run_in_the_order_listed() -> None:
    # an unmarked (TD-style) hook is neither tryfirst nor trylast: it keeps its place among marked ones
    order: list[str] = []

    class Marked:
        @hookimpl
        def onConnect(self) -> None:
            order.append("marked")

    class Unmarked:
        def onConnect(self) -> None:
            order.append("unmarked")

    for plugins, expected in [((Marked(), Unmarked()), ["marked", "unmarked"]),
                              ((Unmarked(), Marked()), ["unmarked", "marked"])]:
        order.clear()
        host, _, errors = host_for(*plugins)
        host.call("onConnect")
        assert order == expected
        assert errors.seen == []


def test_a_reference_listed_twice_runs_once_and_the_rest_still_load() -> None:
    order: list[str] = []

    class First:
        def onConnect(self) -> None:
            order.append("first")

    class Last:
        def onConnect(self) -> None:
            order.append("last")

    first = First()
    host, _, errors = host_for(first, first, Last())
    host.call("onConnect")
    assert order == ["first", "last"]
    assert errors.seen == []


async def test_async_hooks_are_returned_to_be_awaited_and_report_errors() -> None:
    ran: list[str] = []

    class Async:
        async def onReceiveText(self, message: str) -> None:
            ran.append(message)

        async def onConnect(self) -> None:
            raise ValueError("async boom")

    host, _, errors = host_for(Async())
    [pending] = host.call("onReceiveText", rowIndex=1, message="a")
    assert ran == []
    await pending.run()
    assert ran == ["a"]
    [failing] = host.call("onConnect")
    await failing.run()
    assert [(h, str(e)) for h, _, e in errors.seen] == [("onConnect", "async boom")]


def test_module_and_module_attribute_references_and_classes() -> None:
    module = types.ModuleType("wsdat_test_plugin_mod")
    got: list[str] = []

    def onReceiveText(message: str) -> None:
        got.append("module:" + message)

    class Plugin:
        def onReceiveText(self, message: str) -> None:
            got.append("class:" + message)

    module.onReceiveText = onReceiveText  # type: ignore[attr-defined]
    module.Plugin = Plugin  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    host, _, _ = host_for("wsdat_test_plugin_mod", "wsdat_test_plugin_mod:Plugin")
    host.call("onReceiveText", rowIndex=1, message="m")
    assert got == ["module:m", "class:m"]


def test_installed_entry_point_plugin_runs_through_the_host() -> None:
    host, dat, _ = host_for("echo")
    host.call("onReceiveText", rowIndex=1, message="hello")
    host.call("onReceiveText", rowIndex=2, message="echo: hello")
    assert dat.sent == ["echo: hello"]
    name, plugin = load_plugin("echo")
    assert name == "echo" and isinstance(plugin, types.ModuleType)


def test_unknown_reference_lists_installed_plugins() -> None:
    with pytest.raises(ParameterError) as info:
        host_for("no_such_plugin_xyz")
    assert info.value.name == "callbacks"
    assert "echo" in str(info.value)


def test_missing_file_and_broken_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no such file"):
        host_for(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("def onConnect(:\n")
    with pytest.raises(PluginError, match="broken.py:1: failed to load: SyntaxError"):
        host_for(str(broken))


def test_a_marked_hook_with_an_argument_not_in_the_spec_is_refused_in_one_line_of_ours() -> None:
    class Wrong:
        @hookimpl
        def onReceiveText(self, dat: Any, msg: str) -> None: ...

    wrong = Wrong()
    with pytest.raises(PluginError) as refused:
        host_for(wrong)
    assert str(refused.value) == (
        f"callbacks: Wrong@{id(wrong):x}: onReceiveText(dat, msg) takes 'msg', not an argument of onReceiveText "
        "(me, dat, rowIndex, message); hooks marked @hookimpl and hooks of packaged plugins get their arguments by "
        "name")


def test_a_failed_reconfigure_keeps_the_previous_configuration() -> None:
    host, dat, _ = host_for("echo")
    with pytest.raises(ParameterError):
        host.configure(["no_such_plugin_xyz"])
    host.call("onReceiveText", rowIndex=1, message="x")
    assert dat.sent == ["echo: x"]


def test_list_plugins_shows_distribution_version_and_hooks() -> None:
    infos = {info.name: info for info in list_plugins()}
    echo = infos["echo"]
    assert echo.distribution == "wsdat-echo"
    assert echo.version == "0.1.0"
    assert echo.hooks == ("onReceiveText",)


def _me_callbacks_file(directory: Path) -> Path:
    """A TD-style callbacks file that keeps `me` as its module code saw it, and what its hook saw of it."""
    path = directory / "me_callbacks.py"
    path.write_text("AT_LOAD = me\n"
                    "SEEN = []\n"
                    "def onConnect(dat, me):\n"
                    "    SEEN.append((globals()['me'], me))\n")
    return path


def _only_module(host: CallbackHost) -> types.ModuleType:
    [plugin] = host.plugins
    assert isinstance(plugin.obj, types.ModuleType)
    return plugin.obj


@pytest.mark.parametrize("executeloc", ["current", "callbacks", "op"])
def test_me_as_a_global_of_a_callbacks_file_follows_execute_from(tmp_path: Path, executeloc: str) -> None:
    # TD files use `me` as a global, at module level and in the hooks; the hooks' `me` argument is the same object
    path = _me_callbacks_file(tmp_path)
    target = object()
    host, dat, errors = host_for(str(path), executeloc=executeloc, fromop="websocket2" if executeloc == "op" else "",
                                 namespace={"websocket2": target})
    module = _only_module(host)
    host.call("onConnect")
    assert errors.seen == []
    expected = {"current": dat, "callbacks": module, "op": target}[executeloc]
    assert module.AT_LOAD is expected
    seen = module.SEEN
    assert seen == [(expected, expected)]


def test_changing_execute_from_updates_me_in_a_loaded_file_without_loading_it_again(tmp_path: Path) -> None:
    path = _me_callbacks_file(tmp_path)
    target = object()
    host, dat, errors = host_for(str(path), namespace={"websocket2": target})
    module = _only_module(host)
    for executeloc, fromop, expected in [("op", "websocket2", target), ("callbacks", "", module),
                                         ("current", "", dat)]:
        host.configure([str(path)], executeloc, fromop)
        assert [p.obj for p in host.plugins] == [module]  # the same module: not loaded again
        host.call("onConnect")
        assert module.SEEN[-1] == (expected, expected), executeloc
    assert module.AT_LOAD is dat  # module-level code ran once, with the first Execute from
    assert len(module.SEEN) == 3 and errors.seen == []
