# A TouchDesigner WebSocket DAT callbacks file, as TD's template writes it: plain functions, no imports of wsdat.
# me - this DAT
# dat - the WebSocket DAT


def onConnect(dat):
    dat.store("connected", dat.fetch("connected", 0) + 1)
    return


def onDisconnect(dat):
    dat.store("disconnected", dat.fetch("disconnected", 0) + 1)
    return


def onReceiveText(dat, rowIndex, message):
    dat.store("last", (rowIndex, message))
    if message == "ping me":
        dat.sendText("pinged ", "you")
    return


def onReceiveBinary(dat, contents):
    dat.store("binary", bytes(contents))
    return


def onReceivePing(dat, contents):
    dat.store("ping", bytes(contents))
    return


def onReceivePong(dat, contents):
    dat.store("pong", bytes(contents))
    return


def onMonitorMessage(dat, message):
    seen = dat.fetch("monitor", [])
    seen.append(message)
    dat.store("monitor", seen)
    return
