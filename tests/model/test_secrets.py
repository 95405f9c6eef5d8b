"""Masking secrets: URL passwords anywhere in a text, credential header values, what stays visible."""

import pytest

from wsdat_core.model.secrets import is_credential_header, mask_header, mask_headers, mask_text, mask_url


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
