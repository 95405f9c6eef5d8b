# A callbacks DAT as TouchDesigner creates it for a WebSocket DAT (the same functions, tabs and all).
#
# me - this DAT
# dat - the WebSocket DAT

def onConnect(dat):
	return

def onDisconnect(dat):
	return

# rowIndex - the row the message was placed into
# message - the text of the message (text frames only)
def onReceiveText(dat, rowIndex, message):
	return

def onReceiveBinary(dat, contents):
	return

def onReceivePing(dat, contents):
	dat.sendPong(contents) # answer the ping
	return

def onReceivePong(dat, contents):
	return

def onMonitorMessage(dat, message):
	return
