"""wsdat-echo, installed through its entry point, against a real loopback server."""

from wsdat_core.faces.testing import wait_for_rows


async def test_echoes_text_once(ws_server, dat_factory) -> None:
    dat = await dat_factory(callbacks=["echo"])
    await ws_server.send_text("hello", "echo: already an echo")
    await wait_for_rows(dat, 2)
    assert await ws_server.wait_received(1) == ["echo: hello"]
