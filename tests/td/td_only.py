# TouchDesigner-only names: each use is one clear TDOnlyError line, and the DAT goes on.
def onReceiveText(dat, rowIndex, message):
	if message == 'parent':
		parent().par.x = 1
	elif message == 'project':
		print(project.name)
	elif message == 'ui':
		ui.status = 'x'
	elif message == 'tdu':
		tdu.split('a b')
	elif message == 'run':
		run('print(1)', delayFrames=1)
	return
