"""The running DAT: :class:`~wsdat_core.runtime.dat.WebSocketDAT` (TouchDesigner's façade) and the parts of its
session (supervisor, sender, cook, reporter, plugin lifecycle, async hooks, event subscribers)."""
