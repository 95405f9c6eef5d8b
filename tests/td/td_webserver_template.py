# A callbacks DAT as TouchDesigner creates it for a Web Server DAT: the same functions, tabs and all.
#
# me - this DAT
# webServerDAT - the Web Server DAT the event happened on
# request - the HTTP request as a dict: 'method', 'uri', 'pars' (query parameters), 'clientAddress',
#           'serverAddress', 'data', plus the request headers
# response - the answer to fill in: 'statusCode', 'statusReason', 'data', plus response headers
# client - the WebSocket client the event concerns

def onHTTPRequest(webServerDAT, request, response):
	response['statusCode'] = 200 # OK
	response['statusReason'] = 'OK'
	response['data'] = '<b>TouchDesigner: </b>' + webServerDAT.name
	return response

def onWebSocketOpen(webServerDAT, client, uri):
	return

def onWebSocketClose(webServerDAT, client):
	return

def onWebSocketReceiveText(webServerDAT, client, data):
	webServerDAT.webSocketSendText(client, data)
	return

def onWebSocketReceiveBinary(webServerDAT, client, data):
	webServerDAT.webSocketSendBinary(client, data)
	return

def onWebSocketReceivePing(webServerDAT, client, data):
	webServerDAT.webSocketSendPong(client, data=data);  # noqa: E703 - as in TD
	return

def onWebSocketReceivePong(webServerDAT, client, data):
	return

def onServerStart(webServerDAT):
	return

def onServerStop(webServerDAT):
	return
