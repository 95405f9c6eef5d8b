# TouchDesigner-style callbacks used by service.toml's "control" DAT.
# With executeloc = "op" and fromop = "feed", `me` is the feed DAT: control messages act on it.


def onReceiveText(me, dat, rowIndex, message):
    if message == "clear":
        me.par.clear.pulse()
    elif message.startswith("maxlines "):
        me.par.maxlines = int(message.split()[1])
