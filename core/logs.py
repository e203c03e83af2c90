"""Log lines of every drip-bridge process: one format, set up once at each entry point.

Lines carry the process id: ``consume --processes N``, ``stack`` and receiver workers write
to one terminal, and the id tells their lines apart.
"""

from __future__ import annotations

import logging
import sys

from core.away import RepeatFilter

FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    """Send log records to stderr in :data:`FORMAT`; aiokafka only from warnings up.

    While a broker is away aiokafka logs an ERROR (with traceback) per connection attempt:
    each of its lines goes through once a minute at most (:class:`RepeatFilter`).
    """
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    # aiokafka reports every join, assignment and metadata refresh at INFO.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        # On the handlers: a logger's filters see only records logged to that very logger,
        # and aiokafka logs to a dozen children of "aiokafka".
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter("aiokafka"))
