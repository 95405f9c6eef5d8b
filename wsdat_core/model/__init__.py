"""The pure model: parameters and their effects, the netaddress + port rule, proxies from the environment, the FIFO
table, info channels and the cook clock, the event vocabulary, how a connection ended, errors, masking of secrets and
terminal-safe text.

Nothing here does I/O: no trio, no sockets, no files, no processes (``tests/test_layers.py`` checks it).
"""
