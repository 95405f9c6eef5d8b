"""URL resolution: TD's netaddress + port rule, made precise."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsdat_core import ParameterError, resolve_url


@pytest.mark.parametrize(
    ("netaddress", "port", "url"),
    [
        ("localhost", 80, "ws://localhost:80/"),
        ("localhost", 8765, "ws://localhost:8765/"),
        ("example.com", 443, "wss://example.com:443/"),
        ("foo", 8080, "ws://foo:8080/"),
        ("foo.bar.com", 80, "ws://foo.bar.com:80/"),
        ("100.123.45.78", 9000, "ws://100.123.45.78:9000/"),
        # an explicit scheme wins over the 443 rule
        ("ws://example.com", 443, "ws://example.com:443/"),
        ("wss://example.com", 8443, "wss://example.com:8443/"),
        # wss with TD's default port 80 untouched means the wss default port
        ("wss://example.com", 80, "wss://example.com:443/"),
        # a port written in netaddress wins over the port parameter
        ("example.com:9001", 443, "ws://example.com:9001/"),
        ("example.com:443", 80, "wss://example.com:443/"),
        ("wss://example.com:9443/x", 443, "wss://example.com:9443/x"),
        # path and query are kept
        ("ws://localhost:8765/feed?x=1&y=2", 80, "ws://localhost:8765/feed?x=1&y=2"),
        ("localhost/feed", 8000, "ws://localhost:8000/feed"),
        # IPv6
        ("[::1]", 8080, "ws://[::1]:8080/"),
        ("ws://[::1]:9000/feed", 80, "ws://[::1]:9000/feed"),
        ("[2001:db8::1]:443", 80, "wss://[2001:db8::1]:443/"),
        ("::1", 443, "wss://[::1]:443/"),
        # scheme is case-insensitive
        ("WSS://Example.com/a", 80, "wss://Example.com:443/a"),
    ],
)
def test_resolution_examples(netaddress: str, port: int, url: str) -> None:
    assert resolve_url(netaddress, port).url == url


def test_endpoint_parts() -> None:
    ep = resolve_url("wss://[::1]:9443/feed?a=1", 80)
    assert (ep.scheme, ep.host, ep.port, ep.resource, ep.secure) == ("wss", "::1", 9443, "/feed?a=1", True)
    assert ep.host_header == "[::1]:9443"
    assert resolve_url("example.com", 443).host_header == "example.com"
    assert resolve_url("example.com", 8080).origin == "http://example.com:8080"


@pytest.mark.parametrize(
    ("netaddress", "port", "names", "fragment"),
    [
        ("", 80, "netaddress", "empty"),
        ("   ", 80, "netaddress", "empty"),
        ("http://example.com", 80, "netaddress", "http:// is not a WebSocket scheme"),
        ("https://example.com", 80, "netaddress", "use wss://"),
        ("ftp://example.com", 80, "netaddress", "ws:// or wss://"),
        ("[::g]", 80, "netaddress", "IPv6"),
        ("[::1", 80, "netaddress", "netaddress"),
        ("1::2::3", 80, "netaddress", "brackets"),
        ("host:1:2", 80, "netaddress", "brackets"),
        ("example.com:0", 80, "netaddress", "1 to 65535"),
        ("example.com:70000", 80, "netaddress", "netaddress"),
        ("exa mple.com", 80, "netaddress", "white space"),
        ("-bad-.com", 80, "netaddress", "not a valid host name"),
        ("ws://", 80, "netaddress", "host is missing"),
        ("ws://h/#frag", 80, "netaddress", "fragments"),
        ("example.com", 0, "port", "1 to 65535"),
        ("example.com", 65536, "port", "1 to 65535"),
    ],
)
def test_bad_addresses_name_the_parameter(netaddress: str, port: int, names: str, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        resolve_url(netaddress, port)
    assert info.value.name == names
    assert str(info.value).startswith(f"{names}: ")
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


hostnames = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z][a-z0-9]{0,8}){0,3}\Z")
ports = st.integers(1, 65535)
paths = st.from_regex(r"\A(/[a-zA-Z0-9._~-]{0,8}){0,3}(\?[a-z]=[0-9]{1,3})?\Z")


@given(host=hostnames, port=ports)
def test_no_scheme_uses_port_parameter_and_443_means_tls(host: str, port: int) -> None:
    ep = resolve_url(host, port)
    assert ep.port == port
    assert ep.host == host
    assert ep.secure == (port == 443)
    assert ep.resource == "/"


@given(host=hostnames, scheme=st.sampled_from(["ws", "wss"]), written=ports, port=ports, path=paths)
def test_written_port_and_scheme_win(host: str, scheme: str, written: int, port: int, path: str) -> None:
    ep = resolve_url(f"{scheme}://{host}:{written}{path}", port)
    assert (ep.scheme, ep.host, ep.port) == (scheme, host, written)
    assert ep.resource == (path if path.startswith("/") else "/" + path)
    # The resolved URL resolves to itself: resolution is idempotent.
    assert resolve_url(ep.url, port) == ep


@pytest.mark.parametrize(("netaddress", "host", "url"), [
    ("ws://[fe80::1%25lo]:80/", "fe80::1%lo", "ws://[fe80::1%25lo]:80/"),  # RFC 6874: %25 is an escaped %
    ("ws://[fe80::1%25eth0]/x", "fe80::1%eth0", "ws://[fe80::1%25eth0]:80/x"),
    ("ws://[fe80::1%lo]:81/", "fe80::1%lo", "ws://[fe80::1%25lo]:81/"),  # the lenient plain form
])
def test_ipv6_zone_ids_are_decoded_and_left_out_of_the_host_header(netaddress: str, host: str, url: str) -> None:
    endpoint = resolve_url(netaddress)
    assert (endpoint.host, endpoint.url) == (host, url)
    assert endpoint.host_header.startswith("[fe80::1]")
    assert resolve_url(endpoint.url) == endpoint  # the URL shown reads back the same


@pytest.mark.parametrize("written", ["0", "65536", "99999", "x"])
def test_a_written_port_is_refused_as_1_to_65535_never_0_to_65535(written: str) -> None:
    with pytest.raises(ParameterError) as refused:
        resolve_url(f"ws://u:SECRET@h:{written}/")
    assert str(refused.value) == (f"netaddress: 'ws://u:***@h:{written}/' is not allowed; expected a port from 1 to "
                                  f"65535 after the host ({written!r} is not in 1-65535)")
