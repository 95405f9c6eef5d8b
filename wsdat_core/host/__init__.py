"""The plugin host (TouchDesigner's Callbacks DAT): the hookspecs, loading plugins and callbacks files, Execute-from
``me``, TouchDesigner's globals and dispatch.

Imports only :mod:`wsdat_core.model`; no trio, no sockets.
"""
