# A callback that raises on some messages: reported with its file and line, counted, and the DAT goes on.
import json

def onReceiveText(dat, rowIndex, message):
	if message.startswith('{'):
		data = json.loads(message)
		dat.sendText('ok ', data['id'])
	return
