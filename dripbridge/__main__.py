"""``python -m dripbridge`` is the same as the ``drip-bridge`` console script."""

from dripbridge.cli import main

main()
