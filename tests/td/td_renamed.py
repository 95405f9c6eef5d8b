# Arguments renamed, *args and defaults, as real files have them: TouchDesigner calls callbacks by position.
# me - this DAT
def onConnect(websocketDAT):
	websocketDAT.store('opened', websocketDAT.path)
	return

def onReceiveText(dat, rowIndex, data):
	dat.sendText('row ', rowIndex, ': ', data, ' at ', dat.path, ' (', dat.name, ', id ', dat.id, ')')
	return

def onReceivePing(dat, *args):
	me.store('ping args', args)
	return

def onReceivePong(d, contents, note='no note'):
	d.store('pong', (bytes(contents), note))
	return

def onMonitorMessage(dat, *rest, **named):
	return

# A wrong arity: TouchDesigner only notices when a binary message arrives, and so does wsdat.
def onReceiveBinary(dat, rowIndex, contents):
	return
