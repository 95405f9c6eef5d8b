# A chat room as TouchDesigner users write one with a Web Server DAT: the page comes from onHTTPRequest, every
# client is kept in a module-level list and a dict, messages go to everyone else, a 'secret' page needs Basic
# auth. Uses TD's globals: me, op, debug, absTime and operator storage.
import json

clients = []
names = {}

PAGE = '''<!doctype html><html><body><p id="out">waiting</p><script>
const ws = new WebSocket("ws://" + location.host + "/chat");
ws.onopen = () => ws.send("hello from the page");
ws.onmessage = (event) => { document.getElementById("out").textContent = event.data; };
</script></body></html>'''

def onHTTPRequest(webServerDAT, request, response):
	if request['uri'] == '/secret':
		if not webServerDAT.authenticateBasic(request, 'td', 'designer'):
			response['statusCode'] = 401
			response['statusReason'] = 'Unauthorized'
			response['WWW-Authenticate'] = 'Basic realm="wsdat"'
			response['data'] = 'who are you?'
			return response
		response['data'] = 'the secret'
		return response
	if request['uri'] == '/api':
		response['content-type'] = 'application/json'
		response['data'] = json.dumps({'method': request['method'], 'pars': request['pars'],
			'body': request['data'], 'agent': request.get('User-Agent', ''), 'clients': len(clients)})
		return response
	response['Content-Type'] = 'text/html'
	response['data'] = PAGE
	return response

def onWebSocketOpen(webServerDAT, client, uri):
	if client not in clients:
		clients.append(client)
	names[client] = uri
	me.store('opened', me.fetch('opened', 0) + 1)
	debug('open', client, uri, absTime.frame >= 0)

def onWebSocketClose(webServerDAT, client):
	if client in clients:
		clients.remove(client)
	names.pop(client, None)

def onWebSocketReceiveText(webServerDAT, client, data):
	if data == 'who':
		webServerDAT.webSocketSendText(client, ' '.join(sorted(str(c) for c in webServerDAT.webSocketConnections)))
		return
	op('log').store('last', data) if op('log') is not None else None
	for other in clients:
		if other != client:
			webServerDAT.webSocketSendText(other, str(client) + ': ' + data)
	webServerDAT.webSocketSendText(client, 'you said: ' + data)

def onWebSocketReceivePing(webServerDAT, client, data):
	return
