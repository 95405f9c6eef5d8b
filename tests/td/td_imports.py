# TD's own modules: a guarded import runs here as it does in plain Python; an unguarded one says what to use.
try:
	import td
except ImportError:
	td = None

import json

def onReceiveText(dat, rowIndex, message):
	if message == 'json':
		import TDJSON
		dat.sendText(TDJSON.jsonToText(json.loads('{}')))
	else:
		dat.sendText('td is ', td)
	return
