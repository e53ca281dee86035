"""The scenario registry and what a scenario function is handed.

A scenario is a function decorated with `@scenario(...)`; its docstring is the one-paragraph
description written into the expected file. It receives a `Context`, drives real clients,
and calls `ctx.expect(...)` once per MySQL connection the capture will hold.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .clients import Opened
from .expected import ExpectedConnection
from .server import Server
from .tcpdump import Capture, CaptureSpec


@dataclass(slots=True)
class Scenario:
    name: str
    function: Callable[[Context], None]
    captures: dict[str, CaptureSpec]  # output-name suffix ("" for the main one) -> how
    server: str  # "plain", "tls", or "own" (the scenario runs its own server)
    starts_capture: bool  # True: the scenario starts (and may stop) the capture itself
    analyze_options: list[str]

    @property
    def description(self) -> str:
        return " ".join(inspect.getdoc(self.function).split())

    def output_name(self, suffix: str) -> str:
        return f"{self.name}_{suffix}" if suffix else self.name


REGISTRY: dict[str, Scenario] = {}
FIRST_FIN_ON_WIRE = "first FIN on the wire"


def scenario(
    *,
    interface: str = "lo",
    capture_filter: str = "tcp port 3306",
    file_format: str = "pcap",
    gzip: bool = False,
    server: str = "plain",
    starts_capture: bool = False,
    analyze_options: tuple[str, ...] = (),
    captures: dict[str, CaptureSpec] | None = None,
    netns: str | None = None,
    snaplen: int = 0,
):
    """Register a scenario under its function's name."""

    def register(function: Callable[[Context], None]) -> Callable[[Context], None]:
        specs = captures or {
            "": CaptureSpec(interface, capture_filter, file_format, gzip, netns, snaplen)
        }
        REGISTRY[function.__name__] = Scenario(
            function.__name__, function, specs, server, starts_capture, list(analyze_options)
        )
        return function

    return register


@dataclass
class Output:
    """One capture file being made, and the connections it will hold."""

    name: str
    capture: Capture
    connections: list[ExpectedConnection] = field(default_factory=list)
    unlisted_connections: int = 0  # connections in the capture the scenario cannot describe
    error_log: str | None = None  # set by scenarios whose server is not the runner's
    server_address: str = ""  # set by scenarios whose server is not the runner's
    server_version: str = ""
    closed_by_from_wire: list[ExpectedConnection] = field(default_factory=list)


@dataclass
class Context:
    """What a scenario works with: the server, its capture(s), and the expectations."""

    server: Server | None
    outputs: dict[str, Output]
    workdir: Path
    go_client: Callable[[], Path]
    notes: list[str] = field(default_factory=list)

    def start_capture(self, suffix: str = "") -> None:
        self.outputs[suffix].capture.start()

    def stop_capture(self, suffix: str = "") -> None:
        self.outputs[suffix].capture.stop()

    def expect(
        self,
        opened: Opened | None = None,
        *,
        close: str,
        closed_by: str,
        error_codes: list[int] | tuple[int, ...] = (),
        findings: tuple[str, ...] = (),
        capture: str = "",
        **fields,
    ) -> ExpectedConnection:
        """Record one connection. Values come from `opened` unless given in `fields`.

        `closed_by=FIRST_FIN_ON_WIRE` is for closes whose order the scenario cannot observe
        (after an encrypted COM_QUIT both sides close at once): the runner reads who sent
        the first FIN from the capture with tshark and says so in the connection's note.
        """
        values: dict = {}
        if opened is not None:
            values = {
                "client": opened.client,
                "thread_id": opened.thread_id,
                "user": opened.user,
                "database": opened.database,
                "client_library": opened.library,
                "client_reported": opened.reported,
            }
        values.setdefault(
            "server",
            self.outputs[capture].server_address or (self.server.address if self.server else ""),
        )
        values.update(fields)
        from_wire = closed_by == FIRST_FIN_ON_WIRE
        record = ExpectedConnection(
            close=close,
            closed_by="none" if from_wire else closed_by,
            error_codes=list(error_codes),
            findings=list(findings),
            **values,
        )
        self.outputs[capture].connections.append(record)
        if from_wire:
            self.outputs[capture].closed_by_from_wire.append(record)
        return record
