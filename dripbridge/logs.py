"""Log lines of every drip-bridge process: one format, set up once at each entry point.

Lines carry the process id: ``consume --processes N``, ``stack`` and receiver workers write
to one terminal, and the id tells their lines apart.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    """Send log records to stderr in :data:`FORMAT`; aiokafka only from warnings up."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    # aiokafka reports every join, assignment and metadata refresh at INFO.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
