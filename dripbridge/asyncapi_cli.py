"""``drip-bridge asyncapi``: the AsyncAPI document of every topic, printed or written to a file.

FastStream is imported only when the command runs, so that ``dripbridge.cli`` (and through it the
receiver and the consumer processes) never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="PATH",
        help="Write the YAML document here (docs/asyncapi.yaml); default: print it.",
        dir_okay=False,
    ),
]


def asyncapi_command(out: OutOpt = None) -> None:
    """Generate the AsyncAPI document of the topics, keys, headers and payloads."""
    from dripbridge.asyncapi import document, to_yaml

    text = to_yaml(document())
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
