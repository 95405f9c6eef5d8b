# Module-level lookups, as in many TD projects: `table` does not exist here (None, as TD's op() returns),
# `feed` is this DAT and `log` a table DAT that is not there either.
table = op('table1')
feed = op('feed')
log = op('/project1/log')
seen = []

def onReceiveText(dat, rowIndex, message):
	seen.append(message)
	if table is None and feed is dat:
		dat.sendText('module-level ok: ', len(seen))
	return
