"""The network: TCP, proxies and TLS, redirects, and the trio driver of one connection over the sans-I/O protocol.

The driver is pulled by the runtime and hands back facts (batches of events, a :class:`ConnectionEnd`); it never
calls the runtime.
"""
