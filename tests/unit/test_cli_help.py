"""Every command's ``--help`` describes each of its options and arguments, and every option
that takes a value shows a placeholder that says what to give (``URL``, ``N``), not a type."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from dripbridge.cli import app


def _commands() -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(command: object, path: list[str]) -> None:
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()
PARAMS = [
    (name, param)
    for name, command in COMMANDS.items()
    for param in command.params  # type: ignore[attr-defined]
    if param.name != "help"
]


def test_every_command_is_checked() -> None:
    assert {"serve", "psql", "send-test", "webhooks list", "local start"} <= set(COMMANDS)


@pytest.mark.parametrize(("command", "param"), PARAMS, ids=[f"{c}:{p.name}" for c, p in PARAMS])
def test_every_parameter_is_described(command: str, param: object) -> None:
    assert isinstance(param, TyperOption | TyperArgument)
    assert (param.help or "").strip(), f"`drip-bridge {command}`: {param.name} has no help="
    if isinstance(param, TyperOption) and not param.is_flag:
        assert param.metavar and re.fullmatch(r"[A-Za-z][A-Za-z0-9_,.|]*", param.metavar), (
            f"`drip-bridge {command}` {param.opts[0]}: give it a metavar= such as URL or N"
        )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_the_placeholders(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    for param in COMMANDS[command].params:  # type: ignore[attr-defined]
        if isinstance(param, TyperOption) and not param.is_flag:
            assert f"{param.opts[0]} " in result.output
            assert (param.metavar or "<none>") in result.output
