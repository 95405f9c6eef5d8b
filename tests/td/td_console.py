# debug() and print(), as TD users write them: both go to the console (TD's textport), never into the data.
def onReceiveText(dat, rowIndex, message):
	debug('got', message, 'in row', rowIndex)
	print('printed:', message)
	return
