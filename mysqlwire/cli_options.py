"""Command-line parameter types and the user-facing error shared by every command.

Kept apart from cli.py so that each command module (cli.py, live_cli.py) can import them
without importing the other.
"""

from __future__ import annotations

import re
from typing import TextIO

import click

from mysqlwire.report.connection_report import DEFAULT_MAX_ALLOWED_PACKET

EXIT_FINDINGS = 1
EXIT_USAGE = 2
SIZE_UNITS = {
    "": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1 << 30,
    "GIB": 1 << 30,
}


class UserError(click.ClickException):
    """One line on stderr, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file: TextIO | None = None) -> None:
        click.echo(f"mysqlwire: {self.format_message()}", err=True)


class SizeType(click.ParamType):
    name = "SIZE"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).upper() if match else ""
        if not match or unit not in SIZE_UNITS:
            self.fail(f"{value!r} is not a size (examples: 1048576, 16M, 64MiB, 1G)", param, ctx)
        return int(float(match.group(1)) * SIZE_UNITS[unit])


class PortType(click.ParamType):
    name = "PORT"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if str(value).lower() == "any":
            return 0
        try:
            port = int(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a port number (or 'any')", param, ctx)
        if not 1 <= port <= 65535:
            self.fail(f"{port} is not a TCP port (1-65535)", param, ctx)
        return port


def server_ports(ports: tuple[int, ...]) -> frozenset[int] | None:
    if not ports:
        return frozenset({3306})
    if 0 in ports:
        return None  # 'any': every TCP connection, MySQL recognised by its greeting
    return frozenset(ports)


# --- options more than one command takes ----------------------------------------------------

port_option = click.option(
    "--port",
    "-p",
    "ports",
    multiple=True,
    type=PortType(),
    help="Server port (repeatable; default 3306; 'any' tracks every TCP connection).",
)
only_problems_option = click.option(
    "--only-problems", is_flag=True, help="Show only connections with a warning or an error."
)
max_allowed_packet_option = click.option(
    "--max-allowed-packet",
    type=SizeType(),
    default=DEFAULT_MAX_ALLOWED_PACKET,
    show_default="64MiB",
    help="Flag logical packets larger than this.",
)
redact_option = click.option(
    "--redact",
    is_flag=True,
    help="Replace literals (strings, numbers in SQL text, values in ERR messages, row and "
    "parameter values) with '?' so the output can be shared: docs/sharing.md.",
)
