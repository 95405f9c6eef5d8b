# TouchDesigner-only names, as real projects use them: each use is one clear TDOnlyError line, and the DAT goes on.
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
	elif message == 'shortcut':
		op.RS_LOG.Log(message)
	elif message == 'ext':
		me.ext.Logger.Log(message)
	elif message == 'me.parent':
		me.parent().par.Status = message
	elif message == 'iop':
		dat.sendText(iop.settings.par.Url)
	elif message == 'ipar':
		ipar.Settings.Url.eval()
	elif message == 'mod':
		mod.helpers.parse(message)
	elif message == 'tdfunctions':
		import TDFunctions as TDF
		TDF.getCustomPage(me, 'Settings')
	elif message == 'missing':
		op('table1').appendRow([message])
	return
