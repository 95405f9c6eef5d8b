"""A browser page served by a Web Server DAT's onHTTPRequest opens a WebSocket back to the same port, sends, and
shows the answer: Debian's Chromium (headless, through chromedriver) against TD's chat-style callbacks file, run
unchanged. Skips without Chromium, except under CI=true, where it fails."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from wsdat_core.faces.testing import wait_until

from ..integration.webclients import running_server
from .test_live_page import browser, page_until  # noqa: F401 - the fixture, shared

TD = Path(__file__).parent.parent / "td"


async def test_a_page_from_onhttprequest_talks_back_over_a_websocket_on_the_same_port(
        tmp_path: Path, browser: Any) -> None:  # noqa: F811 - the fixture imported above
    from selenium.webdriver.common.by import By

    callbacks = tmp_path / "td_webserver_chat.py"
    shutil.copy(TD / "td_webserver_chat.py", callbacks)
    async with running_server(callbacks=[str(callbacks)]) as server:
        page_url = server.url.replace("ws://", "http://")
        await page_until(lambda: browser.get(page_url) or True, "the page loads")
        shown = await page_until(lambda: browser.find_element(By.ID, "out").text == "you said: hello from the page",
                                 "the echo of the page's message")
        assert shown
        await wait_until(lambda: server.numRows == 2)
        row = server.row(1)
        assert row[0] == "hello from the page" and row[1].startswith("127.0.0.1:")
        assert server.info.http_requests >= 1 and server.info.connects == 1
        assert server.webSocketConnections[0].uri == "/chat"
        assert server.info.hook_errors == 0, server.last_error
