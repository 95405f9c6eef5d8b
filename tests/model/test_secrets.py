"""Masking secrets: URL passwords anywhere in a text, credential header values, what stays visible."""

import pytest

from wsdat_core.model.errors import ConnectError, ParameterError
from wsdat_core.model.params import Parameters
from wsdat_core.model.secrets import (
    is_credential_header,
    mask_header,
    mask_headers,
    mask_parameters,
    mask_text,
    mask_url,
    mask_value,
)


@pytest.mark.parametrize(("given", "shown"), [
    ("ws://u:SECRET@h:99999/", "ws://u:***@h:99999/"),
    ("wss://bob:p@ss:w0rd@example.com/feed?x=1", "wss://bob:***@example.com/feed?x=1"),
    ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("socks5h://me:pw@proxy:1080", "socks5h://me:***@proxy:1080"),
    ("ws://user@host/", "ws://user@host/"),
    ("ws://host:80/", "ws://host:80/"),
    ("wss://bob:***@example.com/", "wss://bob:***@example.com/"),
])
def test_mask_url(given: str, shown: str) -> None:
    assert mask_url(given) == shown


def test_mask_text_masks_every_url_in_a_line_and_keeps_the_rest() -> None:
    line = "netaddress: 'ws://u:SECRET@x:1/' is not allowed; proxy http://p:TOKEN@y:3128 refused"
    assert mask_text(line) == "netaddress: 'ws://u:***@x:1/' is not allowed; proxy http://p:***@y:3128 refused"
    assert "SECRET" not in mask_text(line) and "TOKEN" not in mask_text(line)
    assert mask_text("no url: a:b@c") == "no url: a:b@c"


def test_credential_headers_are_masked_after_their_scheme_and_marked_ones_too() -> None:
    assert mask_header("Authorization", "Bearer abc.def") == "Bearer ***"
    assert mask_header("proxy-authorization", "Basic dXNlcjpwYXNz") == "Basic ***"
    assert mask_header("Cookie", "session=abc; other=1") == "***"
    assert mask_header("X-Api-Key", "k-123", secret=["x-api-key"]) == "***"
    assert mask_header("X-Api-Key", "k-123") == "k-123"
    assert mask_header("X-Upstream", "ws://a:pw@b/") == "ws://a:***@b/"
    assert is_credential_header(" AUTHORIZATION ")
    assert mask_headers([("Authorization", "tok"), ("Accept", "x")]) == [("Authorization", "***"), ("Accept", "x")]


def test_values_of_every_shape_are_masked() -> None:
    assert mask_value({"Authorization": "Bearer abc", "Accept": "x"}) == {"Authorization": "Bearer ***", "Accept": "x"}
    assert mask_value((("Cookie", "a=1"), ("X-Key", "k"))) == (("Cookie", "***"), ("X-Key", "k"))
    assert mask_value(["Authorization: Basic dTpw", "Authorization Bearer typo"], ["x-key"]) == [
        "Authorization: Basic ***", "Authorization Bearer ***"]
    assert mask_value(["X-Key: k"], ["X-KEY"]) == ["X-Key: ***"]
    assert mask_value(5) == 5 and mask_value("localhost") == "localhost"


def test_parameters_are_masked_as_every_face_shows_them() -> None:
    shown = mask_parameters({"netaddress": "wss://u:URLPW@h/", "proxy": "socks5h://p:PROXYPW@x:1080",
                             "headers": (("Authorization", "Bearer AUTH"), ("X-Api-Key", "KEY"), ("Accept", "a")),
                             "secretheaders": ("x-api-key",), "maxlines": 5})
    assert shown == {"netaddress": "wss://u:***@h/", "proxy": "socks5h://p:***@x:1080",
                     "headers": (("Authorization", "Bearer ***"), ("X-Api-Key", "***"), ("Accept", "a")),
                     "secretheaders": ("x-api-key",), "maxlines": 5}


def test_errors_never_show_a_secret() -> None:
    refused = ParameterError("headers", {"Authorization": "Bearer SECRET", "Bad Name": "x"}, "valid headers")
    assert str(refused) == "headers: {'Authorization': 'Bearer ***', 'Bad Name': 'x'} is not allowed; expected valid " \
                           "headers"
    assert refused.detail == str(refused).removeprefix("headers: ")
    assert refused.value == {"Authorization": "Bearer SECRET", "Bad Name": "x"}  # kept as given for programs
    assert str(ConnectError("cannot connect to redis://:SECRET@h:6379/0")) == \
        "cannot connect to redis://:***@h:6379/0"
    with pytest.raises(ParameterError, match=r"^proxy: 'http://u:\*\*\*@h:0' is not allowed") as proxy:
        Parameters(proxy="http://u:SECRET@h:0")
    assert "SECRET" not in str(proxy.value) and "0-65535" not in str(proxy.value)
    assert "1 to 65535" in str(proxy.value)
    with pytest.raises(ParameterError) as typo:
        Parameters(headers=["Authorization Bearer SECRET"])
    assert "SECRET" not in str(typo.value)
    assert Parameters(secretheaders="X-Api-Key, x-token").secretheaders.eval() == ("X-Api-Key", "x-token")
    with pytest.raises(ParameterError, match="secretheaders: 'a b' is not allowed; expected header names"):
        Parameters(secretheaders="a b")


def test_the_repr_of_parameters_shows_no_secret() -> None:
    shown = repr(Parameters(netaddress="ws://u:URLPW@h/", headers=["Authorization: Bearer AUTH", "X-K: KEY"],
                            secretheaders="x-k", proxy="http://p:PROXYPW@x:1"))
    assert shown == ("Parameters(netaddress='ws://u:***@h/', headers=(('Authorization', 'Bearer ***'), "
                     "('X-K', '***')), secretheaders=('x-k',), proxy='http://p:***@x:1')")
