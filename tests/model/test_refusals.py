"""Every refusal says exactly what it refused and what is allowed: the full message of each error path.

A message is behaviour: the CLI prints it as the one line a user gets, and a library user matches on it. These tests pin
each message whole (parameter name, the value as given, what is allowed, and the detail in parentheses), so a wrong
name, a lost value or a mangled word fails here. Where the detail is Python's own wording (``urllib``), only its
place is checked: it changes between Python versions.
"""

from __future__ import annotations

import hashlib

import pytest

from wsdat_core import ParameterError, Parameters, params, resolve_url
from wsdat_core.host.callbacks import (
    PluginError,
    PluginInfo,
    _load_file,
    list_plugins,
    load_plugin,
    parse_setting_value,
    resolve_fromop,
    settings_names,
)
from wsdat_core.model import checks, specs
from wsdat_core.model.params import SPECS

ALLOWED_ADDRESS = "a host name, IPv4 address or [IPv6] address, optionally with ws:// or wss://, :port and /path"
ALLOWED_HEADERS = "HTTP headers: a mapping, (name, value) pairs or 'Name: value' strings, without line breaks"
LATIN1 = "; values are Latin-1 text without control characters)"


def expect_refusal(error: ParameterError, name: str, value: object, expected: str) -> None:
    """``expected`` is what follows "expected "; ``<address>`` and ``<headers>`` stand for :data:`ALLOWED_ADDRESS`
    and :data:`ALLOWED_HEADERS`, a final "(*)" for Python's own words in parentheses."""
    assert error.name == name and (error.value is value or error.value == value)
    expected = expected.replace("<address>", ALLOWED_ADDRESS).replace("<headers>", ALLOWED_HEADERS)
    head = f"{name}: {value!r} is not allowed; expected "
    message = str(error)
    if expected.endswith("(*)"):
        assert message.startswith(head + expected[:-2]) and message.endswith(")"), message
        assert len(message) > len(head + expected[:-2]) + 1, message
    else:
        assert message == head + expected, (name, value)
    assert error.allowed == message[len(head):]


ADDRESS_REFUSALS = [
    ("example.com", 0, "port", "an integer from 1 to 65535"),
    ("example.com", 65536, "port", "an integer from 1 to 65535"),
    ("example.com", True, "port", "an integer from 1 to 65535"),
    ("example.com", "80", "port", "an integer from 1 to 65535"),
    ("example.com", 8080.0, "port", "an integer from 1 to 65535"),
    (123, 80, "netaddress", "<address>"),
    ("", 80, "netaddress", "<address> (it is empty)"),
    ("   ", 80, "netaddress", "<address> (it is empty)"),
    ("exa mple.com", 80, "netaddress", "<address> (no white space)"),
    ("ws://a\tb", 80, "netaddress", "<address> (no white space)"),
    ("http://x", 80, "netaddress", "a ws:// or wss:// URL (http:// is not a WebSocket scheme; use ws://)"),
    ("https://x", 80, "netaddress", "a ws:// or wss:// URL (https:// is not a WebSocket scheme; use wss://)"),
    ("HTTPS://x", 80, "netaddress", "a ws:// or wss:// URL (https:// is not a WebSocket scheme; use wss://)"),
    ("ftp://x", 80, "netaddress", "a ws:// or wss:// URL (ftp:// is not supported)"),
    ("FTP://x", 80, "netaddress", "a ws:// or wss:// URL (FTP:// is not supported)"),
    ("1::2::3", 80, "netaddress", "IPv6 addresses written in brackets, e.g. ws://[::1]:8080/"),
    ("host:1:2", 80, "netaddress", "IPv6 addresses written in brackets, e.g. ws://[::1]:8080/"),
    ("ws://1:2:3/", 80, "netaddress", "IPv6 addresses written in brackets, e.g. ws://[::1]:8080/"),
    ("user@1:2:3", 80, "netaddress", "IPv6 addresses written in brackets, e.g. ws://[::1]:8080/"),
    ("[::1", 80, "netaddress", "<address> (*)"),
    ("example.com:70000", 80, "netaddress", "a port from 1 to 65535 after the host ('70000' is not in 1-65535)"),
    ("example.com:abc", 80, "netaddress", "a port from 1 to 65535 after the host ('abc' is not in 1-65535)"),
    ("ws://h/#frag", 80, "netaddress", "<address> (fragments '#...' are not allowed in WebSocket URLs)"),
    ("h#x", 80, "netaddress", "<address> (fragments '#...' are not allowed in WebSocket URLs)"),
    ("ws://h/p?q#", 80, "netaddress", "<address> (fragments '#...' are not allowed in WebSocket URLs)"),
    ("[::g]", 80, "netaddress", "<address> (*)"),
    ("ws://", 80, "netaddress", "<address> (the host is missing)"),
    ("ws://:80", 80, "netaddress", "<address> (the host is missing)"),
    ("ws://user@/", 80, "netaddress", "<address> (the host is missing)"),
    ("ws://a]b", 80, "netaddress", "<address> (*)"),
    # after "[IPv6]" only ":port" may follow: a second "]" or other text is refused, not cut off
    ("ws://[::1]x]:80/", 80, "netaddress", "[IPv6 address] followed by nothing or :port ('x]:80' follows it)"),
    ("[::1]]", 80, "netaddress", "[IPv6 address] followed by nothing or :port (']' follows it)"),
    ("[::1]x", 80, "netaddress", "[IPv6 address] followed by nothing or :port ('x' follows it)"),
    ("-bad-.com", 80, "netaddress", "<address> ('-bad-.com' is not a valid host name)"),
    ("bad_host!", 80, "netaddress", "<address> ('bad_host!' is not a valid host name)"),
    ("a..b", 80, "netaddress", "<address> ('a..b' is not a valid host name)"),
    ("ws://-x-:99/", 80, "netaddress", "<address> ('-x-' is not a valid host name)"),
    ("x" * 64, 80, "netaddress", "<address> ('" + "x" * 64 + "' is not a valid host name)"),
    ("example.com:0", 80, "netaddress", "a port from 1 to 65535 after the host ('0' is not in 1-65535)"),
    ("ws://h:0/", 80, "netaddress", "a port from 1 to 65535 after the host ('0' is not in 1-65535)"),
]


def test_every_address_refusal_is_exact() -> None:
    # one test looping over the table (not one test per row): mutation testing runs it per mutant, and stops at the
    # first row that fails; the row is named in the failure
    for netaddress, port, name, expected in ADDRESS_REFUSALS:
        with pytest.raises(ParameterError) as refused:
            resolve_url(netaddress, port)  # type: ignore[arg-type]
        expect_refusal(refused.value, name, netaddress if name == "netaddress" else port, expected)


def test_credentials_in_the_url_are_decoded_sent_and_never_shown() -> None:
    endpoint = resolve_url("ws://bob:s%40cret@example.com/feed", 80)
    assert (endpoint.username, endpoint.password) == ("bob", "s@cret")
    assert endpoint.url == "ws://bob:***@example.com:80/feed" and str(endpoint) == endpoint.url
    assert endpoint.authorization == "Basic Ym9iOnNAY3JldA=="  # bob:s@cret
    assert "s@cret" not in repr(endpoint)
    # the last @ ends the credentials: an @ inside them is part of the user name
    endpoint = resolve_url("ws://a@b@host:81/x", 80)
    assert (endpoint.username, endpoint.host, endpoint.port, endpoint.url) == ("a@b", "host", 81, "ws://a@b@host:81/x")
    assert endpoint.authorization == "Basic YUBiOg=="  # a@b:
    endpoint = resolve_url("ws://:pw@h/", 80)
    assert (endpoint.url, endpoint.authorization) == ("ws://:***@h:80/", "Basic OnB3")
    assert resolve_url("ws://user@h/", 80).url == "ws://user@h:80/"
    # colons in the credentials are not an IPv6 host: only what follows the last @ is the host
    endpoint = resolve_url("ws://a@b:c:d@host/", 80)
    assert (endpoint.username, endpoint.password, endpoint.host) == ("a@b", "c:d", "host")
    endpoint = resolve_url("ws://u:p@host:81/", 80)
    assert (endpoint.username, endpoint.password, endpoint.host, endpoint.port) == ("u", "p", "host", 81)
    assert resolve_url("ws://h/", 80).authorization is None


def test_paths_and_queries_are_kept_with_non_ascii_percent_encoded() -> None:
    assert resolve_url("ws://h/caf\u00e9?q=\u00e9x", 80).resource == "/caf%C3%A9?q=%C3%A9x"
    assert resolve_url("ws://h/p?a=b?c", 80).resource == "/p?a=b?c"
    assert resolve_url("h/%41", 80).resource == "/%41"
    assert resolve_url("h/a:b@c!$&'()*+,;=-._~", 80).resource == "/a:b@c!$&'()*+,;=-._~"
    assert resolve_url("h/1:2:3", 80).url == "ws://h:80/1:2:3"  # colons in the path are not an IPv6 host
    assert resolve_url("h/1:2:3/x", 80).url == "ws://h:80/1:2:3/x"
    assert resolve_url("ws://h/r?to=ws://x", 80).url == "ws://h:80/r?to=ws://x"  # the first :// is the scheme's


@pytest.mark.parametrize(
    ("netaddress", "port", "url", "host_header", "origin"),
    [
        ("example.com", 80, "ws://example.com:80/", "example.com", "http://example.com"),
        ("example.com", 443, "wss://example.com:443/", "example.com", "https://example.com"),
        ("ws://example.com", 443, "ws://example.com:443/", "example.com:443", "http://example.com:443"),
        ("wss://example.com:80/", 80, "wss://example.com:80/", "example.com:80", "https://example.com:80"),
        ("[::1]", 80, "ws://[::1]:80/", "[::1]", "http://[::1]"),
        ("::1", 80, "ws://[::1]:80/", "[::1]", "http://[::1]"),
        ("2001:DB8::1", 443, "wss://[2001:db8::1]:443/", "[2001:db8::1]", "https://[2001:db8::1]"),
        ("[2001:DB8::1]:9", 80, "ws://[2001:db8::1]:9/", "[2001:db8::1]:9", "http://[2001:db8::1]:9"),
        ("127.0.0.1", 8080, "ws://127.0.0.1:8080/", "127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("host.", 80, "ws://host.:80/", "host.", "http://host."),
        ("under_score.example", 80, "ws://under_score.example:80/", "under_score.example", "http://under_score.example"),
    ],
)
def test_host_header_and_origin_leave_out_only_the_schemes_default_port(netaddress: str, port: int, url: str,
                                                                          host_header: str, origin: str) -> None:
    endpoint = resolve_url(netaddress, port)
    assert (endpoint.url, endpoint.host_header, endpoint.origin) == (url, host_header, origin)
    assert endpoint.is_ipv6 is url.startswith(("ws://[", "wss://["))


# -- parameters -----------------------------------------------------------------------------------------------------
PARAMETER_REFUSALS = [
    ('active', 'maybe', 'active', 'a boolean (True/False, 1/0, on/off)'),
    ('active', 2, 'active', 'a boolean (True/False, 1/0, on/off)'),
    ('active', None, 'active', 'a boolean (True/False, 1/0, on/off)'),
    ('active', 0.5, 'active', 'a boolean (True/False, 1/0, on/off)'),
    ('port', 0, 'port', 'an integer from 1 to 65535'),
    ('port', 65536, 'port', 'an integer from 1 to 65535'),
    ('port', 'abc', 'port', 'an integer from 1 to 65535'),
    ('port', 1.5, 'port', 'an integer from 1 to 65535'),
    ('port', True, 'port', 'an integer from 1 to 65535'),
    ('port', '-1', 'port', 'an integer from 1 to 65535'),
    ('port', '1111111111111111111111111111111', 'port', 'an integer from 1 to 65535'),
('port', '0' * 30 + '1', 'port', 'an integer from 1 to 65535'),  # 31 characters: not read as a number
('port', 'X80', 'port', 'an integer from 1 to 65535'),
    ('timeout', 0, 'timeout', 'an integer >= 1 (at most 86400000) (milliseconds, at most a day)'),
    ('timeout', 86400001, 'timeout', 'an integer >= 1 (at most 86400000) (milliseconds, at most a day)'),
    ('timeout', None, 'timeout', 'an integer >= 1 (at most 86400000) (milliseconds, at most a day)'),
    ('maxlines', 0, 'maxlines', 'an integer >= 1 (at most 2147483647)'),
    ('maxlines', 2147483648, 'maxlines', 'an integer >= 1 (at most 2147483647)'),
    ('maxlines', '1e3', 'maxlines', 'an integer >= 1 (at most 2147483647)'),
    ('maxredirects', -1, 'maxredirects', 'an integer >= 0 (at most 100) (redirects followed)'),
    ('maxredirects', 101, 'maxredirects', 'an integer >= 0 (at most 100) (redirects followed)'),
    ('maxtablebytes', -1, 'maxtablebytes', 'an integer >= 0 (at most 2147483647) (bytes, 0 = no limit)'),
    ('reconnectdelay', 0, 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', -1, 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', 'x', 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', float("nan"), 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', float("inf"), 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', 1000000100.0, 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', True, 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectdelay', None, 'reconnectdelay', 'a finite number > 0 and at most 1e+09 (seconds)'),
    ('reconnectfactor', 0.99, 'reconnectfactor', 'a finite number >= 1 and at most 1e+09 (growth per attempt)'),
    ('pinginterval', -0.001, 'pinginterval', 'a finite number >= 0 and at most 1e+09 (seconds, 0 = off)'),
    ('pingtimeout', '-1', 'pingtimeout', 'a finite number >= 0 and at most 1e+09 (seconds, 0 = do not wait)'),
    ('compression', 'zip', 'compression', "one of 'deflate', 'off'"),
    ('compression', 3, 'compression', "one of 'deflate', 'off'"),
    ('executeloc', 'parent', 'executeloc', "one of 'current', 'callbacks', 'op'"),
    ('netaddress', 5, 'netaddress', 'a string'),
    ('fromop', None, 'fromop', 'a string'),
    ('cafile', '/no/such/file', 'cafile', 'a path to an existing file, or None (no such file)'),
    ('cafile', 5, 'cafile', 'a path to an existing file, or None'),
    ('headers', 5, 'headers', "<headers>"),
    ('headers', 'NoColon', 'headers', "<headers> ('NoColon' has no ':')"),
    ('headers', ['a: b', ('x',)], 'headers', "<headers>"),
    ('headers', {'bad name': 'v'}, 'headers', "<headers> ('bad name' is not a valid header name)"),
    ('headers', {'X': 'a\nb'}, 'headers', "<headers> ('X' is not a valid header: its value holds '\\n'" + LATIN1),
    ('headers', {'Host': 'x'}, 'headers', "<headers> ('Host' is set by wsdat: it comes from netaddress)"),
    ('headers', {'Sec-WebSocket-Protocol': 'x'}, 'headers',
     "<headers> ('Sec-WebSocket-Protocol' is set by wsdat: use the subprotocols parameter)"),
    ('headers', {'X': '€'}, 'headers', "<headers> ('X' is not a valid header: its value holds '€'" + LATIN1),
    ('headers', {'X': '\x7f'}, 'headers', "<headers> ('X' is not a valid header: its value holds '\\x7f'" + LATIN1),
    ('headers', [('X', 1)], 'headers', "<headers>"),
    ('subprotocols', 'a b', 'subprotocols', "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')"),
    ('subprotocols', 5, 'subprotocols', "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')"),
    ('subprotocols', ['ok', 5], 'subprotocols', "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')"),
    ('subprotocols', '', 'subprotocols', "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')"),
    ('clear', 1, 'clear', "nothing: 'clear' is a pulse, call par.clear.pulse()"),
    ('reload', True, 'reload', "nothing: 'reload' is a pulse, call par.reload.pulse()"),
    ('callbacks', [''], 'callbacks', 'plugin references: entry-point names, modules, .py paths or objects'),
    ('callbacks', [None], 'callbacks', 'plugin references: entry-point names, modules, .py paths or objects'),
    ("nosuch", 1, "nosuch", "a known parameter: " + ", ".join(SPECS)),
]


def test_every_parameter_refusal_is_exact() -> None:
    for name, value, refused_name, expected in PARAMETER_REFUSALS:
        with pytest.raises(ParameterError) as refused:
            Parameters(**{name: value})
        expect_refusal(refused.value, refused_name, value, expected)
        parameters = Parameters()
        with pytest.raises(ParameterError) as again:  # the same through a change, which leaves the value as it was
            parameters.update(**{name: value})
        assert str(again.value) == str(refused.value)
        assert name not in SPECS or parameters.value(name) == SPECS[name].default


ACCEPTED = [
    ('active', ' On ', True),
    ('active', 1, True),
    ('active', 0, False),
    ('active', 'NO', False),
    ('active', 'yes', True),
    ('active', 'false', False),
    ('port', ' 8080 ', 8080),
('port', '0' * 29 + '1', 1),  # 30 characters: still read as a number
    ('port', '+81', 81),
    ('port', 443.0, 443),
    ('port', 65535, 65535),
    ('port', 1, 1),
    ('timeout', 86400000, 86400000),
    ('maxlines', 2147483647, 2147483647),
    ('maxredirects', 0, 0),
    ('maxredirects', 100, 100),
    ('maxtablebytes', 0, 0),
    ('reconnectdelay', 1000000000.0, 1000000000.0),
    ('reconnectdelay', '0.5', 0.5),
    ('reconnectdelay', 2, 2.0),
    ('reconnectfactor', 1, 1.0),
    ('pinginterval', 0, 0.0),
    ('compression', ' OFF ', 'off'),
    ('cafile', '', None),
    ('cafile', None, None),
    ('headers', {'X': 'café'}, (('X', 'café'),)),
    ('headers', 'X-A: 1', (('X-A', '1'),)),
    ('headers', [('X-B', ' 2 ')], (('X-B', '2'),)),
    ('headers', None, ()),
    ('headers', {'X': '\t ok'}, (('X', 'ok'),)),
    ('subprotocols', [' v1 ', 'chat'], ('v1', 'chat')),
    ('subprotocols', None, ()),
    ('subprotocols', 'v1', ('v1',)),
    ('callbacks', None, ()),
]


def test_accepted_values_are_stored_in_their_one_form() -> None:
    for name, value, stored in ACCEPTED:
        value_read = Parameters(**{name: value}).value(name)
        assert value_read == stored and type(value_read) is type(stored), (name, value, value_read)


def test_parameters_checked_together_and_the_par_objects_refusals(tmp_path) -> None:
    with pytest.raises(ParameterError) as refused:
        Parameters(callbacks="  ")  # one reference, as a list of one
    expect_refusal(refused.value, "callbacks", ["  "], "plugin references: entry-point names, modules, .py paths or "
                   "objects")
    with pytest.raises(ParameterError) as refused:
        Parameters(executeloc="op")
    expect_refusal(refused.value, "executeloc", "op", "'current' or 'callbacks' unless fromop names an object")
    with pytest.raises(ParameterError) as refused:
        Parameters(executeloc="op", fromop="   ")
    assert refused.value.name == "executeloc"
    assert Parameters(executeloc="op", fromop="mod:obj").value("executeloc") == "op"
    key = tmp_path / "client.key"
    key.write_text("not a key, but a file")
    with pytest.raises(ParameterError) as refused:
        Parameters(keyfile=str(key))
    expect_refusal(refused.value, "keyfile", str(key), "a key only together with certfile")
    assert Parameters(keyfile=str(key), certfile=str(key)).value("keyfile") == str(key)
    parameters = Parameters()
    with pytest.raises(TypeError, match=r"^par\.maxlines is not a pulse parameter; set it with par\.maxlines = value$"):
        parameters.maxlines.pulse()
    with pytest.raises(TypeError, match=r"^par\.netaddress is not an integer parameter$"):
        [0, 1][parameters.netaddress]
    unknown = f"no parameter named 'nosuch'; parameters are: {', '.join(SPECS)}"
    with pytest.raises(AttributeError) as missing:
        parameters.nosuch  # noqa: B018
    assert str(missing.value) == unknown
    with pytest.raises(KeyError) as missing_key:
        parameters["nosuch"]
    assert missing_key.value.args == (unknown,)
    with pytest.raises(AttributeError) as missing:
        parameters.value("nosuch")
    assert str(missing.value) == unknown


# -- callbacks ------------------------------------------------------------------------------------------------------
def installed_names() -> str:
    import importlib.metadata

    return ", ".join(sorted({ep.name for ep in importlib.metadata.entry_points(group="wsdat")})) or "none installed"


def test_every_plugin_reference_refusal_is_exact(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(tmp_path / "missing.py")
    with pytest.raises(ParameterError) as refused:
        load_plugin(missing)
    expect_refusal(refused.value, "callbacks", missing, "an existing .py file (no such file)")
    for unknown in ("no_such_plugin_xyz", " no_such_plugin_xyz ", "json:no_such_attribute"):
        with pytest.raises(ParameterError) as refused:
            load_plugin(unknown)
        expect_refusal(refused.value, "callbacks", unknown,
                       f"an installed plugin name ({installed_names()}), a module[:attribute] or a .py file")
    folder = tmp_path / "folder.py"
    folder.mkdir()
    with pytest.raises(ParameterError) as refused:
        _load_file(str(folder))
    expect_refusal(refused.value, "callbacks", str(folder), "a readable Python file (it is a directory, not a file)")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "needs_a_dependency.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "raises_on_import.py").write_text("x = 1\nraise RuntimeError('nope')\n")
    (tmp_path / "needs_arguments.py").write_text("class Plugin:\n    def __init__(self, x):\n        pass\n")
    with pytest.raises(PluginError) as failed:
        load_plugin("needs_a_dependency")
    assert str(failed.value) == ("callbacks: importing 'needs_a_dependency' failed: No module named "
                                 "'no_such_dependency_xyz'")
    with pytest.raises(PluginError) as failed:
        load_plugin("raises_on_import:anything")
    assert str(failed.value) == "callbacks: importing 'raises_on_import' failed: RuntimeError: nope"
    with pytest.raises(PluginError) as failed:
        load_plugin("needs_arguments:Plugin")
    assert str(failed.value).startswith("callbacks: cannot instantiate plugin class 'needs_arguments:Plugin' without "
                                        "arguments: ")
    assert "missing 1 required positional argument: 'x'" in str(failed.value)


def test_a_callbacks_file_that_fails_says_where(tmp_path) -> None:
    broken = tmp_path / "my-callbacks.file.py"
    broken.write_text("a = 1\nb = 2\nraise ValueError('boom')\n")
    with pytest.raises(PluginError) as failed:
        load_plugin(str(broken))
    assert str(failed.value) == f"callbacks: {broken}:3: failed to load: ValueError: boom"
    broken.write_text("def onReceiveText(:\n    pass\n")
    with pytest.raises(PluginError) as failed:
        load_plugin(str(broken))
    assert str(failed.value).startswith(f"callbacks: {broken}:1: failed to load: SyntaxError: ")
    broken.write_text("def onReceiveText(message):\n    pass\n")
    name, module = load_plugin(str(broken))
    assert name == str(broken) and module.__file__ == str(broken)
    digest = hashlib.sha1(str(broken).encode()).hexdigest()[:10]
    assert module.__name__ == f"wsdat_callbacks_my_callbacks_file_{digest}"


def test_plugin_objects_modules_and_classes_are_named_by_what_they_are() -> None:
    import types

    class Hooks:
        def onReceiveText(self, message: str) -> None:
            pass

    hooks = Hooks()
    assert load_plugin(hooks) == (f"Hooks@{id(hooks):x}", hooks)
    name, instance = load_plugin(Hooks)
    assert name == f"Hooks@{id(Hooks):x}" and type(instance) is Hooks
    module = types.ModuleType("some_hooks")
    assert load_plugin(module) == ("some_hooks", module)
    name, echo = load_plugin(" echo ")
    assert name == "echo" and hasattr(echo, "onReceiveText")


def test_installed_plugins_are_listed_with_their_distribution_and_hooks() -> None:
    import importlib.metadata

    [echo] = list_plugins(["echo"])
    assert echo == PluginInfo("echo", "wsdat-echo", importlib.metadata.version("wsdat-echo"), ("onReceiveText",))
    assert echo.as_dict() == {"name": "echo", "distribution": "wsdat-echo", "version": echo.version,
                              "hooks": ["onReceiveText"], "error": ""}
    assert list_plugins(["no_such_plugin_xyz"]) == []
    everything = list_plugins()
    assert [info.name for info in everything] == sorted(info.name for info in everything)
    assert {"echo", "record"} <= {info.name for info in everything}
    assert [info.name for info in list_plugins(["record", "echo"])] == ["echo", "record"]


def test_setting_names_and_values() -> None:
    names = settings_names(["echo", " mine ", object()])
    assert names == sorted(set(installed_names().split(", ")) | {"echo", "mine"})
    assert [parse_setting_value(text) for text in ("5", "true", '"x"', "[1, 2]", "plain text", "1.5")] == \
        [5, True, "x", [1, 2], "plain text", 1.5]


# validators built afresh by their factories (SPECS builds them once, at import), with the arguments SPECS uses
REBUILT = {
    "port": lambda: checks.integer(1, 65535, range_=True),
    "timeout": lambda: checks.integer(1, 86_400_000, unit="milliseconds, at most a day"),
    "maxlines": lambda: checks.integer(1),
    "maxredirects": lambda: checks.integer(0, 100, unit="redirects followed"),
    "maxtablebytes": lambda: checks.integer(0, unit="bytes, 0 = no limit"),
    "reconnectdelay": lambda: checks.number(0, lo_inclusive=False, unit="seconds"),
    "reconnectfactor": lambda: checks.number(1, lo_inclusive=True, unit="growth per attempt"),
    "pinginterval": lambda: checks.number(0, lo_inclusive=True, unit="seconds, 0 = off"),
    "pingtimeout": lambda: checks.number(0, lo_inclusive=True, unit="seconds, 0 = do not wait"),
    "compression": lambda: checks.choice(specs.COMPRESSION),
    "executeloc": lambda: checks.choice(specs.EXECUTE_FROM),
}


def test_validators_built_afresh_refuse_and_accept_exactly_as_the_parameters_do() -> None:
    assert set(REBUILT) <= set(SPECS)
    checked = 0
    for name, value, refused_name, expected in PARAMETER_REFUSALS:
        if name in REBUILT:
            with pytest.raises(ParameterError) as refused:
                REBUILT[name]()(name, value)
            expect_refusal(refused.value, refused_name, value, expected)
            checked += 1
    for name, value, stored in ACCEPTED:
        if name in REBUILT:
            accepted = REBUILT[name]()(name, value)
            assert accepted == stored and type(accepted) is type(stored), (name, value, accepted)
            checked += 1
    assert checked > 40
    # the edges of each range, both sides
    port, lines, delay, interval = REBUILT["port"](), REBUILT["maxlines"](), REBUILT["reconnectdelay"](), \
        REBUILT["pinginterval"]()
    assert (port("port", 1), port("port", 65535), lines("maxlines", 2**31 - 1)) == (1, 65535, 2**31 - 1)
    assert (delay("d", 1e-9), delay("d", 1e9), interval("i", 0), interval("i", "1e9")) == (1e-9, 1e9, 0.0, 1e9)
    for check, value in ((port, 0), (port, 65536), (lines, 2**31), (delay, 0), (delay, 1e9 + 1), (interval, -1e-9),
                         (port, "9" * 31), (port, " 80x"), (lines, 2.5), (delay, "inf"), (interval, True)):
        with pytest.raises(ParameterError):
            check("p", value)
    assert port("port", " +80 ") == 80 and port("port", "0080") == 80 and port("port", 80.0) == 80


def test_header_values_are_latin1_text_without_control_characters() -> None:
    allowed = "\t" + "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0x80, 0x100)))
    assert Parameters(headers={"X": allowed.strip()}).value("headers") == (("X", allowed.strip()),)
    for code in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, 0x100, 0x2028]:
        with pytest.raises(ParameterError, match="is not a valid header: its value holds"):
            Parameters(headers={"X": f"a{chr(code)}b"})
    assert Parameters(headers={"X": "a b"}).value("headers") == (("X", "a b"),)  # a space inside a value
    # 'Name: value' strings split at the first colon: values may hold colons
    assert Parameters(headers="X-Url: http://h:1/").value("headers") == (("X-Url", "http://h:1/"),)


def test_plugin_references_paths_and_objects() -> None:
    import pathlib

    assert Parameters(callbacks=pathlib.Path("a/b.py")).value("callbacks") == ("a/b.py",)
    assert Parameters(callbacks=[pathlib.Path("x.py"), "echo"]).value("callbacks") == ("x.py", "echo")
    marker = object()
    assert Parameters(callbacks=marker).value("callbacks") == (marker,)
    assert Parameters(callbacks=("echo",)).value("callbacks") == ("echo",)


def test_parameters_describe_themselves() -> None:
    parameters = Parameters(maxlines=5, netaddress="h")
    assert repr(parameters) == "Parameters(netaddress='h', maxlines=5)"
    assert repr(Parameters()) == "Parameters()"
    assert repr(parameters.clear) == "<pulse par.clear>" and repr(parameters.maxlines) == "<Par maxlines=5>"
    assert parameters.endpoint.url == "ws://h:80/"
    assert Parameters().endpoint.url == "ws://localhost:80/"
    assert Parameters(port=8080).endpoint.url == "ws://localhost:8080/"
    table = params.parameters_markdown().splitlines()
    assert table[:2] == ["| parameter | page | default | meaning |", "|---|---|---|---|"]
    assert "| `port` | Connect | `80` | Server port; 443 implies TLS (wss). |" in table
    assert "| `clear` | Received Messages | pulse | Pulse: delete all rows except the heading. |" in table
    assert len(table) == 2 + len(SPECS)


def test_listeners_hear_only_real_changes_and_can_leave() -> None:
    heard: list[tuple[str, object, object]] = []
    checks: list[frozenset[str]] = []
    parameters = Parameters()
    leave = parameters.subscribe(lambda *change: heard.append(change))
    parameters.add_check(lambda values, changed: checks.append(changed))
    parameters.update(maxlines=100, bytes=True)  # maxlines unchanged: only bytes is news
    assert heard == [("bytes", False, True)] and checks == [frozenset({"bytes"})]
    leave()
    leave()  # leaving twice is harmless
    parameters.maxlines = 7
    assert heard == [("bytes", False, True)] and checks[-1] == frozenset({"maxlines"})


def test_path_like_references_are_files_and_dotted_ones_modules(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    for ref in ("nosuchfile.py", "some/dir", "./nosuch"):  # a .py name, or a path separator: a file, not a module
        with pytest.raises(ParameterError) as refused:
            load_plugin(ref)
        expect_refusal(refused.value, "callbacks", ref, "an existing .py file (no such file)")
    with pytest.raises(ParameterError) as refused:  # a missing package: unknown, not a failing import
        load_plugin("no_such_package_xyz.sub")
    expect_refusal(refused.value, "callbacks", "no_such_package_xyz.sub",
                   f"an installed plugin name ({installed_names()}), a module[:attribute] or a .py file")
    assert load_plugin("json:JSONDecoder.decode") == ("json:JSONDecoder.decode", json.JSONDecoder.decode)


def test_fromop_refusals_name_the_dats_there_are() -> None:
    with pytest.raises(ParameterError) as refused:
        resolve_fromop(" nosuch ", {"feed": object(), "alerts": object()})
    expect_refusal(refused.value, "fromop", " nosuch ",
                   "a DAT name (alerts, feed) or module:attribute naming an existing object")
    with pytest.raises(ParameterError) as refused:
        resolve_fromop("no_such_module_xyz:thing")
    expect_refusal(refused.value, "fromop", "no_such_module_xyz:thing", "module:attribute naming an existing object")
    feed = object()
    assert resolve_fromop(" feed ", {"feed": feed}) is feed


def test_an_installed_plugin_that_fails_is_listed_with_its_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a real distribution on sys.path (a .dist-info folder), whose wsdat entry points fail in two ways
    info = tmp_path / "brokenplugins-1.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugins\nVersion: 1.5\n")
    (info / "entry_points.txt").write_text("[console_scripts]\nbroken-tool = broken_plugin_mod:main\n\n"
                                           "[wsdat]\nbroken = broken_plugin_mod\nneedsargs = needs_args_mod:Plugin\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise RuntimeError('nope')\n")
    (tmp_path / "needs_args_mod.py").write_text("class Plugin:\n    def __init__(self, x):\n        pass\n\n"
                                               "    def onReceiveText(self, message):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list_plugins(["broken", "needsargs", "echo"])[:2] == [
        PluginInfo("broken", "brokenplugins", "1.5", (), "RuntimeError: nope"),
        PluginInfo("echo", "wsdat-echo", list_plugins(["echo"])[0].version, ("onReceiveText",)),
    ]
    assert list_plugins(["needsargs"]) == [PluginInfo("needsargs", "brokenplugins", "1.5", ("onReceiveText",))]
    # a plugin that fails does not hide the next one of the same distribution
    assert [info.name for info in list_plugins(["broken", "needsargs"])] == ["broken", "needsargs"]
    with pytest.raises(PluginError) as failed:
        load_plugin("broken")
    assert str(failed.value) == "callbacks: plugin 'broken' failed to load: RuntimeError: nope"
    with pytest.raises(PluginError) as failed:
        load_plugin("needsargs")
    assert str(failed.value).startswith("callbacks: cannot instantiate plugin class 'needsargs' without arguments: ")

    class NeedsArguments:
        def __init__(self, x: int) -> None:
            pass

    with pytest.raises(PluginError) as failed:
        load_plugin(NeedsArguments)
    assert str(failed.value).startswith(f"callbacks: cannot instantiate plugin class {NeedsArguments!r} without "
                                        "arguments: ")


def test_plugins_that_cannot_be_used_say_why() -> None:
    from wsdat_core import WebSocketDAT, hookimpl
    from wsdat_core.host.hookspecs import HOOK_NAMES

    class Nothing:
        pass

    nothing = Nothing()
    name = f"Nothing@{id(nothing):x}"
    with pytest.raises(PluginError) as refused:
        WebSocketDAT(callbacks=[nothing], active=False)
    assert str(refused.value) == (f"callbacks: {name!r} (Nothing {name}) implements none of the hooks "
                                  f"({', '.join(HOOK_NAMES)})")

    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def onReceiveText(self, message: str) -> object:
            return (yield)

    class NewWrapper:
        @hookimpl(wrapper=True)
        def onReceiveText(self, message: str) -> object:
            return (yield)

    for cls in (OldWrapper, NewWrapper):
        plugin = cls()
        with pytest.raises(PluginError) as refused:
            WebSocketDAT(callbacks=[plugin], active=False)
        assert str(refused.value) == (f"callbacks: {cls.__name__}@{id(plugin):x}.onReceiveText: hook wrappers are "
                                      "not supported")


async def test_a_failing_lifecycle_hook_is_reported_with_its_plugin() -> None:
    from wsdat_core import WebSocketDAT

    class Fails:
        def onStart(self, dat: object) -> None:
            raise ValueError("boom")

        async def onExit(self, dat: object) -> None:
            raise KeyError("k")

    plugin = Fails()
    name = f"Fails@{id(plugin):x}"
    dat = WebSocketDAT(callbacks=[plugin], active=False)
    assert dat.host.call_plugins("onStart", dat.host.plugins) == ()  # plain: called at once
    start_line = Fails.onStart.__code__.co_firstlineno + 1
    assert (dat.last_error, dat.info.errors, dat.info.hook_errors) == (
        f"test_refusals.py:{start_line} in onStart: ValueError: boom", 1, 1)
    assert dat.host.call_plugins("onStart", []) == ()  # not one of the plugins asked for: not called
    assert dat.info.errors == 1
    [pending] = dat.host.call_plugins("onExit", dat.host.plugins)
    assert (pending.hook, pending.plugin_name) == ("onExit", name)
    await pending.run()
    exit_line = Fails.onExit.__code__.co_firstlineno + 1
    assert dat.last_error == f"test_refusals.py:{exit_line} in onExit: KeyError: 'k'" and dat.info.hook_errors == 2


def test_par_objects_compare_and_compute_as_their_values() -> None:
    lines = Parameters(maxlines=4).maxlines
    assert (lines > 4, lines >= 4, lines < 4, lines <= 4, lines < 5, lines > 3) == (False, True, False, True, True,
                                                                                     True)
    assert (lines != 4, lines != 5, lines == 4) == (False, True, True)
    assert (lines ** 2, 3 * lines, 8 / lines, lines * 3, lines / 8) == (16, 12, 2.0, 12, 0.5)
    other = Parameters(maxlines=4).maxlines
    assert (lines == other, lines != other, lines >= other, lines > other) == (True, False, True, False)
