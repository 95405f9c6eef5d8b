# A callbacks file as TouchDesigner users write them: op(), debug(), absTime, me, storage, par.X.eval().
# It keeps a count of messages, mirrors every message to the DAT named 'mirror' and answers 'status?'.

def onConnect(dat):
	debug('connected', dat.name, 'frame', absTime.frame)
	me.store('connected_at', absTime.seconds)
	dat.store('count', 0)
	return

def onReceiveText(dat, rowIndex, message):
	count = dat.fetch('count', 0) + 1
	dat.store('count', count)
	mirror = op('mirror')
	if mirror is not None:
		mirror.sendText('mirror: ', message)
	if message == 'status?':
		limit = dat.par.maxlines.eval()
		dat.sendText('rows ', rowIndex, '/', limit, ' count ', count, ' ', 'clamped' if dat.par.clamp else 'open')
	if message == 'forget':
		dat.unstore('count*')
	return

def onReceiveBinary(dat, contents):
	debug('binary of', len(contents), 'bytes')
	return
