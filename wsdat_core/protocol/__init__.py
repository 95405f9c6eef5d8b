"""The WebSocket protocol as a sans-I/O state machine: bytes in, typed events and bytes out.

No trio, no sockets, no clock; imports only :mod:`wsdat_core.model`.
"""
