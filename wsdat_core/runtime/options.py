"""What one connection attempt needs, read from a DAT's parameters when the attempt starts."""

from __future__ import annotations

import functools

from ..model.params import Parameters
from ..model.proxy import proxy_for
from ..net.connect import ConnectOptions, make_ssl_context

__all__ = ["connect_options"]


def connect_options(par: Parameters) -> ConnectOptions:
    """The :class:`ConnectOptions` of the parameters ``par`` as they are now."""
    value = par.value
    tls = functools.partial(make_ssl_context, value("cafile"), value("certfile"), value("keyfile"), value("insecure"))
    return ConnectOptions(par.endpoint, tls, value("headers"), value("subprotocols"), value("maxmessagesize"),
                          value("pinginterval"), value("pingtimeout"), compression=value("compression") == "deflate",
                          proxy=proxy_for(value("proxy"), par.endpoint), max_redirects=value("maxredirects"),
                          secret_headers=tuple(value("secretheaders")))
