"""`pcaps/generate [--list] [SCENARIO...]`: regenerate captures and their expected files.

For each scenario: (re)start the private server if the scenario needs another kind, start
tcpdump, run the scenario's real clients, stop tcpdump, then write into pcaps/ the capture,
`NAME.expected.json` and `NAME.error.log` (the server's error-log lines written meanwhile),
and cross-check the expectations against the wire with tshark.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path

from . import netns
from .clients import build_go_client
from .expected import ExpectedCapture
from .scenario import REGISTRY, Context, Output, Scenario
from .scenarios import load_all
from .server import Server, ServerConfig
from .tcpdump import Capture, publish
from .verify import check, wire_connections

PCAPS = Path(__file__).resolve().parent.parent
WORKDIR = PCAPS / "work"
SERVER_ORDER = {"plain": 0, "tls": 1, "own": 2}


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def summary_line(sc: Scenario) -> str:
    first_sentence = sc.description.split(". ")[0].rstrip(".")
    return f"{sc.name:26} {first_sentence[:100]}"


def remove_previous(name: str) -> None:
    for suffix in (".pcap", ".pcap.gz", ".pcapng", ".pcapng.gz"):
        (PCAPS / (name + suffix)).unlink(missing_ok=True)


def resolve_closed_by(capture: Path, output: Output) -> None:
    """Fill in closed_by for the connections whose close order only the wire shows."""
    if not output.closed_by_from_wire:
        return
    wire = wire_connections(capture)
    for record in output.closed_by_from_wire:
        first = wire[(record.client, record.server)].first_close or "no close"
        record.closed_by = first.split()[0] if first != "no close" else "none"
        record.note = " ".join(
            filter(
                None,
                [
                    record.note,
                    (
                        f"closed_by read from the capture with tshark (first close: {first}): "
                        "after the encrypted COM_QUIT both sides close at once and either FIN "
                        "may come first"
                    ),
                ],
            )
        )


def run_scenario(sc: Scenario, server: Server | None) -> list[str]:
    """Run one scenario and write its files; returns the cross-check's warnings."""
    raw_dir = WORKDIR / "captures"
    raw_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for suffix, spec in sc.captures.items():
        name = sc.output_name(suffix)
        raw = raw_dir / spec.file_name(name).removesuffix(".gz")
        outputs[suffix] = Output(name, Capture(spec, raw))
    ctx = Context(
        server if sc.server != "own" else None,
        outputs,
        WORKDIR,
        go_client=lambda: build_go_client(WORKDIR),
    )
    log_offset = server.error_log_offset() if server else 0
    if not sc.starts_capture:
        for output in outputs.values():
            output.capture.start()
    try:
        sc.function(ctx)
    finally:
        for output in outputs.values():
            output.capture.stop()
    time.sleep(0.5)  # "Aborted connection" lines are written as the server threads end
    server_log = server.error_log_since(log_offset) if server else ""

    warnings = []
    for output in outputs.values():
        capture = output.capture
        if capture.dropped():
            warnings.append(f"{output.name}: {capture.dropped()} packets dropped by the kernel")
        final = PCAPS / capture.spec.file_name(output.name)
        remove_previous(output.name)
        publish(capture.raw_path, final)
        resolve_closed_by(final, output)
        command = capture.command_string(capture.raw_path.name)
        if capture.spec.gzip:
            command += f" && gzip -9 {capture.raw_path.name}"
        description = " ".join([sc.description, *ctx.notes])
        expected = ExpectedCapture(
            capture=final.name,
            scenario=description,
            server={
                "product": "MariaDB",
                "version": output.server_version or (server.version if server else ""),
                "address": output.server_address or (server.address if server else ""),
            },
            capture_command=command,
            analyze_options=sc.analyze_options,
            connection_count=len(output.connections) + output.unlisted_connections,
            connections=output.connections,
        )
        expected.write(PCAPS / f"{output.name}.expected.json")
        log = output.error_log if output.error_log is not None else server_log
        (PCAPS / f"{output.name}.error.log").write_text(log)
        warnings += [f"{output.name}: {p}" for p in check(final, expected)]
    return warnings


def busy_ports() -> list[int]:
    """Ports the scenarios need on 127.0.0.1 that something else already holds."""
    busy = []
    for port in (3306, 3307, 3399):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pcaps/generate",
        description="Regenerate the capture suite from a private MariaDB and real clients.",
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenarios to run (default: all)"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    load_all()
    if args.list:
        for sc in REGISTRY.values():
            print(summary_line(sc))
        return 0
    unknown = [name for name in args.scenarios if name not in REGISTRY]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (see --list)")
    if os.geteuid() != 0:
        parser.error("needs root (tcpdump, network namespaces, iptables)")
    if busy := busy_ports():
        parser.error(
            f"127.0.0.1 port(s) {busy} already in use (a system MariaDB? stop it "
            "first: this script never touches it)"
        )
    selected = [REGISTRY[name] for name in (args.scenarios or REGISTRY)]
    selected.sort(key=lambda sc: SERVER_ORDER[sc.server])

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    WORKDIR.mkdir(exist_ok=True)
    os.environ["PYTHONPATH"] = str(PCAPS)  # for the child processes (python -m pcapgen.child)
    server: Server | None = None
    server_kind = None
    all_warnings: list[str] = []
    started = time.monotonic()
    try:
        for sc in selected:
            if sc.server != "own" and sc.server != server_kind:
                if server:
                    server.stop()
                server = Server(ServerConfig(workdir=WORKDIR / "server", tls=sc.server == "tls"))
                server.start()
                server_kind = sc.server
            t0 = time.monotonic()
            warnings = run_scenario(sc, server)
            all_warnings += warnings
            print(
                f"{sc.name:26} {time.monotonic() - t0:6.1f} s"
                + (f"  {len(warnings)} warning(s)" if warnings else ""),
                flush=True,
            )
            for warning in warnings:
                print(f"    WARNING {warning}", flush=True)
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt}); the scenario in progress wrote nothing", file=sys.stderr)
        return 130
    finally:
        if server:
            server.stop()
        netns.teardown()
    print(
        f"done: {len(selected)} scenario(s) in {time.monotonic() - started:.0f} s, "
        f"{len(all_warnings)} warning(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
