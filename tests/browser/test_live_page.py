"""The live page in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium.

It loads ``/`` of a service connected to a real WebSocket server, sees rows appear without reloading, sends with the
send box (the server receives it), and sees escape sequences and HTML in messages as text. It also keeps
docs/live-view.png: a new screenshot is written when the page's files changed since the last one (their digest is
stored in the PNG). Skips without Chromium, except under CI=true, where it fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import wsdat_core.http
from tests.integration.servicehttp import running_service
from wsdat_core.faces.testing import ScriptedServer, wait_until

ROOT = Path(__file__).parent.parent.parent
SCREENSHOT = ROOT / "docs" / "live-view.png"
STATIC = Path(wsdat_core.http.__file__).parent / "static"
DIGEST_KEY = b"wsdat-live-page"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,820", "--hide-scrollbars")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test (.ci/run installs chromium and chromium-driver)")
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, through chromedriver."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        _unavailable("Chromium not found: apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def page_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll the page (in a worker thread, the driver blocks) until ``check()`` is truthy; returns its value."""
    with trio.move_on_after(timeout):
        while True:
            value = await trio.to_thread.run_sync(check)
            if value:
                return value
            await trio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for the page: {what}")


def assets_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def png_texts(png: bytes) -> dict[bytes, bytes]:
    """The tEXt chunks of a PNG."""
    texts, at = {}, 8
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"tEXt":
            key, _, value = png[at + 8:at + 8 + length].partition(b"\0")
            texts[key] = value
        at += 12 + length
    return texts


def with_text(png: bytes, key: bytes, value: bytes) -> bytes:
    """``png`` with a tEXt chunk ``key``=``value`` after its header chunk."""
    data = key + b"\0" + value
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    end_of_header = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:end_of_header] + chunk + png[end_of_header:]


def keep_screenshot(png: bytes) -> None:
    digest = assets_digest().encode()
    if SCREENSHOT.exists() and png_texts(SCREENSHOT.read_bytes()).get(DIGEST_KEY) == digest:
        return  # the page did not change: the committed screenshot stays as it is
    SCREENSHOT.write_bytes(with_text(png, DIGEST_KEY, digest))


HOSTILE = "\x1b[2J\x1b]52;c;cHduZWQ=\x07<script>document.title='pwned'</script><img src=x onerror=\"alert(1)\">"


async def test_live_page_shows_rows_as_they_arrive_and_sends_from_the_send_box(
        tmp_path: Path, ws_server: ScriptedServer, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    text = f"""
[service]
name = "studio"

[dat.feed]
netaddress = "{ws_server.url}feed"
maxlines = 200

[dat.control]
netaddress = "{ws_server.url}control"
"""
    async with running_service(tmp_path / "service.toml", text) as runner:
        for dat in runner.dats.values():
            await dat.wait_connected()
        feed_server = next(c for c in ws_server.connections if c.path == "/feed")
        assert runner.http_url is not None
        await trio.to_thread.run_sync(browser.get, runner.http_url)

        def panel(name: str) -> Any:
            return browser.find_element(By.CSS_SELECTOR, f'section.panel[data-dat="{name}"]')

        def cells(name: str) -> list[str]:  # read in one script: rows come and go while the page is live
            return list(browser.execute_script(
                "return Array.from(document.querySelectorAll(`section.panel[data-dat='${arguments[0]}'] "
                "tbody td.cell`), (cell) => cell.textContent)", name))

        def state(name: str) -> str:
            return str(panel(name).find_element(By.CSS_SELECTOR, ".state").text)

        await page_until(lambda: browser.find_elements(By.CSS_SELECTOR, "section.panel") and state("feed") == "open"
                         and state("control") == "open", "both panels connected")
        assert cells("feed") == []
        assert browser.find_element(By.ID, "link").text == "live"

        # rows appear while the page stays loaded (pushed, not polled, not reloaded)
        marker = await trio.to_thread.run_sync(browser.execute_script, "return window.performance.timeOrigin")
        for i in range(5):
            await feed_server.send_message(f'{{"tick": {i}, "price": {100 + i * 0.25}}}')
            await page_until(lambda i=i: len(cells("feed")) == i + 1, f"row {i + 1}")
        assert cells("feed")[-1] == '{"tick": 4, "price": 101.0}'
        assert await trio.to_thread.run_sync(browser.execute_script,
                                             "return window.performance.timeOrigin") == marker

        # escape sequences and HTML are shown as text, never interpreted
        await feed_server.send_message(HOSTILE)
        shown = await page_until(lambda: len(cells("feed")) == 6 and cells("feed")[-1], "the hostile row")
        assert shown == ("\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07<script>document.title='pwned'</script>"
                         "<img src=x onerror=\"alert(1)\">")
        injected = await trio.to_thread.run_sync(browser.execute_script,
                                                 "return document.querySelectorAll('main script, main img').length")
        assert injected == 0
        assert "pwned" not in await trio.to_thread.run_sync(lambda: browser.title)

        # the send box sends through the DAT, and the server receives it
        def type_and_send() -> None:
            box = panel("control")
            box.find_element(By.CSS_SELECTOR, "input.send-text").send_keys("hello from the page")
            box.find_element(By.CSS_SELECTOR, "button.send").click()

        await trio.to_thread.run_sync(type_and_send)
        assert await ws_server.wait_received(1) == ["hello from the page"]
        result = await page_until(lambda: panel("control").find_element(By.CSS_SELECTOR, ".result").text
                                  .startswith("sent") and panel("control").find_element(By.CSS_SELECTOR,
                                                                                       ".result").text,
                                  "the send result")
        assert result == "sent 19 bytes"

        await page_until(lambda: "connected to" in panel("feed").find_element(By.CSS_SELECTOR, ".lines").text,
                         "monitor lines")
        keep_screenshot(await trio.to_thread.run_sync(browser.get_screenshot_as_png))

        # a burst faster than the page is written to: the newest rows are shown, the others marked as dropped
        for i in range(1000):
            await feed_server.send_message(f"burst {i}")
        await page_until(lambda: cells("feed")[-1:] == ["burst 999"], "the newest row of the burst")
        banner = await trio.to_thread.run_sync(lambda: panel("feed").find_element(By.CSS_SELECTOR, ".dropped").text)
        assert "dropped" in banner
        assert len(cells("feed")) <= 100
        assert runner.dats["feed"].info.messages_received == 1006  # the DAT itself got every one


async def test_right_after_load_the_page_shows_rows_and_states_and_panels_fit_the_window(
        tmp_path: Path, ws_server: ScriptedServer, browser: Any) -> None:
    """With the event stream blocked, so that only the first response can draw the page: rows, a reconnecting
    badge and panels that scroll inside a short window instead of running off it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    text = f"""
[service]
name = "studio"

[dat.feed]
netaddress = "{ws_server.url}feed"

[dat.flaky]
netaddress = "ws://127.0.0.1:{dead}/"
reconnectdelay = 0.01
reconnectfactor = 1

[dat.down]
netaddress = "ws://127.0.0.1:{dead}/down"
reconnectdelay = 0.01
reconnectfactor = 4000
reconnectmaxdelay = 60
"""
    async with running_service(tmp_path / "service.toml", text) as runner:
        feed, down = runner.dats["feed"], runner.dats["down"]
        await feed.wait_connected()
        client = await ws_server.wait_client()
        for i in range(60):
            await client.send_message(f"row {i}")
        assert runner.hub is not None
        hub = runner.hub
        await wait_until(lambda: hub.panels["feed"].row_seq == 60 and hub.panels["flaky"].line_seq >= 60
                         and down.info.state == "reconnecting" and down.info.retry_attempt == 2,
                         what="rows, monitor lines and a second retry planned (20 to 40 s away)")
        assert runner.http_url is not None

        def load() -> dict[str, Any]:
            browser.set_window_size(1400, 640)  # a short window: the panels are taller than it would allow
            browser.execute_cdp_cmd("Network.enable", {})
            browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/events"]})
            browser.get(runner.http_url)  # returns once the page has loaded
            seen = browser.execute_script("""
                const panels = Array.from(document.querySelectorAll("section.panel"));
                const rows = document.querySelectorAll("section.panel[data-dat='feed'] tbody td.cell");
                const lines = document.querySelector("section.panel[data-dat='flaky'] .lines");
                return {
                  rows: Array.from(rows, (cell) => cell.textContent),
                  lastRowShown: rows.length > 0 && rows[rows.length - 1].getBoundingClientRect().bottom
                                <= rows[0].closest(".table-box").getBoundingClientRect().bottom + 1,
                  states: Object.fromEntries(panels.map((p) => [p.dataset.dat, p.querySelector(".state").textContent])),
                  tallest: Math.max(...panels.map((p) => p.getBoundingClientRect().height)),
                  window: window.innerHeight,
                  linesScroll: lines.scrollHeight > lines.clientHeight,
                  link: document.getElementById("link").textContent,
                };""")
            seen["png"] = browser.get_screenshot_as_png()
            return dict(seen)

        seen = await trio.to_thread.run_sync(load)
    assert seen["link"] != "live"  # the stream was blocked: all of it came with the page
    assert seen["rows"] == [f"row {i}" for i in range(60)]
    assert seen["lastRowShown"]  # scrolled to the newest row
    assert seen["states"]["feed"] == "open"
    assert re.fullmatch(r"reconnecting: attempt 2 in \d+ s", seen["states"]["down"]), seen["states"]
    assert seen["tallest"] <= seen["window"]  # no panel runs off the bottom of the window
    assert seen["linesScroll"]  # the many monitor lines scroll inside their box
    assert seen["png"][:8] == b"\x89PNG\r\n\x1a\n"
