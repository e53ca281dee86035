"""No secret reaches any output: every command, every format, however the capture is cut.

The capture holds known secret byte strings in every place the protocol carries one: the
server's scramble (greeting, auth switches), a mysql_native_password hash, the clear-text
password of mysql_clear_password, a caching_sha2_password scramble and its RSA-encrypted
password (full authentication over plain TCP), a COM_CHANGE_USER's auth data and the
replication password of COM_REGISTER_SLAVE. Each secret is looked for in every output as
text, hex (both cases), Python's escaped form, JSON's escaped form and base64, and by its
first 8 bytes (a truncated display would still leak).

The decoder keeps only the lengths of secrets (tests/protocol/test_detail_and_secrets.py);
these tests hold the whole program to it, including captures where the decoder cannot know
it is looking at authentication: a capture that begins after the greeting, or in the middle
of the authentication, or that lost the server's auth switch request."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.craft import Packet, TcpSession, frame_tuples, pcap_bytes, write_capture
from tests.hardening.captures import START, run, session
from tests.live.replay import replay_live
from tests.mysql_builder import (
    CLIENT_BASE,
    PERFORM_FULL_AUTHENTICATION,
    PUBLIC_KEY,
    QUIT,
    Conversation,
    auth_switch_request,
    change_user,
    err,
    greeting,
    handshake_response41,
    ok,
    query,
    register_slave,
)

SCRAMBLE = b"Scramble-0123456789A"  # 20 bytes: the server's challenge
SECOND_SCRAMBLE = b"AuthSwitch-Scramble!"  # 20 bytes, sent with an auth switch
NATIVE_HASH = bytes.fromhex("9f3c2a7be105d4c8a6f1e2d3c4b5a69788796a5b")  # 20-byte hash
CLEAR_PASSWORD = "S3cr3t-Pa55"  # mysql_clear_password sends it as is
SHA2_SCRAMBLE = b"SHA2-SCRAMBLED-PASSWORD-32-BYTES"  # 32 bytes
# An RSA-encrypted password whose first byte is COM_QUERY's, so that a decoder that lost
# track of the authentication would take it for a query and print it.
RSA_PASSWORD = b"\x03RSA-ENCRYPTED-PASSWORD" + bytes(range(233))
CHANGE_USER_AUTH = b"ChangeUser-AuthData!"  # 20 bytes
CHANGE_USER_SHA2 = b"ChangeUser-SHA2-Scramble-32bytes"
REPLICATION_PASSWORD = "Repl-Secret-Pa55"

SECRETS: dict[str, bytes] = {
    "scramble": SCRAMBLE,
    "auth switch scramble": SECOND_SCRAMBLE,
    "mysql_native_password hash": NATIVE_HASH,
    "clear-text password": CLEAR_PASSWORD.encode(),
    "caching_sha2 scramble": SHA2_SCRAMBLE,
    "RSA-encrypted password": RSA_PASSWORD,
    "COM_CHANGE_USER auth data": CHANGE_USER_AUTH,
    "COM_CHANGE_USER sha2 scramble": CHANGE_USER_SHA2,
    "replication password": REPLICATION_PASSWORD.encode(),
}


def forms(secret: bytes) -> list[str]:
    """Every way an output could spell `secret` (or its first 8 bytes)."""
    out = []
    for piece in (secret, secret[:8], secret[1:9]):
        text = piece.decode("latin-1")
        out += [
            text,
            piece.hex(),
            piece.hex().upper(),
            " ".join(f"{b:02x}" for b in piece),
            repr(piece)[2:-1],
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            base64.b64encode(piece).decode(),
            piece.decode("utf-8", "replace"),
        ]
    return [form for form in out if len(form) >= 6]


def assert_no_secret(output: str, where: str) -> None:
    for name, secret in SECRETS.items():
        for form in forms(secret):
            assert form not in output, f"{name} ({form!r}) appears in {where}"


def everything() -> Conversation:
    """One connection that authenticates every way there is, and more."""
    talk = Conversation()
    talk.server(greeting(scramble=SCRAMBLE), seq=0)
    talk.client(handshake_response41("app", "shop", auth_response=SHA2_SCRAMBLE))
    talk.server(auth_switch_request("mysql_clear_password", SECOND_SCRAMBLE))
    talk.client(CLEAR_PASSWORD.encode() + b"\0")
    talk.server(ok())
    talk.command(query("select 1")).server(ok())
    talk.command(change_user("admin", "shop", auth_response=CHANGE_USER_AUTH))
    talk.server(auth_switch_request("caching_sha2_password", SECOND_SCRAMBLE))
    talk.client(CHANGE_USER_SHA2)
    talk.server(PERFORM_FULL_AUTHENTICATION)
    talk.client(b"\x02")  # request the server's public key
    talk.server(PUBLIC_KEY)
    talk.client(RSA_PASSWORD)
    talk.server(ok())
    talk.command(register_slave(7, "replica-1", "repl", REPLICATION_PASSWORD)).server(ok())
    talk.command(query("select 2")).server(err(1045, "Access denied for user 'x'@'h'"))
    talk.command(QUIT)
    return talk


def native_login() -> Conversation:
    """A second connection: mysql_native_password, the scramble and its hash."""
    talk = Conversation()
    talk.server(greeting(scramble=SCRAMBLE, auth_plugin="mysql_native_password"), seq=0)
    talk.client(
        handshake_response41(
            "app", "shop", auth_response=NATIVE_HASH, auth_plugin="mysql_native_password"
        )
    )
    talk.server(ok()).command(QUIT)
    return talk


def captures() -> dict[str, list[Packet]]:
    """The conversation whole, and cut the ways that confuse a decoder."""
    whole = session(everything())
    native = session(native_login(), ("10.0.0.1", 50001), start_ts=START + 1)
    data_frames = [p for p in whole.frames if p.payload]
    greeting_frame = data_frames[0]
    auth_switch = next(p for p in data_frames if SECOND_SCRAMBLE in p.payload)
    clear = next(p for p in data_frames if CLEAR_PASSWORD.encode() in p.payload)
    change = next(p for p in data_frames if CHANGE_USER_AUTH in p.payload)
    rsa = next(p for p in data_frames if RSA_PASSWORD in p.payload)
    after = {
        "from the login on": whole.frames.index(greeting_frame) + 1,
        "from the auth switch on": whole.frames.index(auth_switch),
        "from the clear password on": whole.frames.index(clear),
        "from COM_CHANGE_USER on": whole.frames.index(change),
        "from the RSA password on": whole.frames.index(rsa),
    }
    cut = {name: whole.frames[start:] for name, start in after.items()}
    lost_switch = [p for p in whole.frames if p is not auth_switch]
    compressed = session(compressed_everything())
    return {
        "whole": whole.frames + native.frames,
        "native login from its login packet on": native.frames[4:],
        **cut,
        "auth switch lost": lost_switch,
        "compressed": compressed.frames,
        "tiny segments": tiny_segments(everything()),
        "tiny segments from the login on": tiny_segments(everything())[4:],
    }


def compressed_everything() -> Conversation:
    from tests.mysql_builder import CLIENT_COMPRESS

    talk = Conversation()
    talk.server(greeting(scramble=SCRAMBLE), seq=0)
    talk.client(
        handshake_response41(capabilities=CLIENT_BASE | CLIENT_COMPRESS, auth_response=NATIVE_HASH)
    )
    talk.server(ok())
    talk.compress("zlib", piece_size=40)
    talk.command(change_user("admin", "shop", auth_response=CHANGE_USER_AUTH))
    talk.server(auth_switch_request("mysql_clear_password", SECOND_SCRAMBLE))
    talk.client(CLEAR_PASSWORD.encode() + b"\0")
    talk.server(ok())
    talk.command(register_slave(7, "replica-1", "repl", REPLICATION_PASSWORD)).server(ok())
    talk.command(QUIT)
    return talk


def tiny_segments(talk: Conversation) -> list[Packet]:
    """Every byte of the conversation in its own segment."""
    s = TcpSession()
    s.handshake()
    for chunk in talk.chunks:
        for byte in chunk.data:
            (s.client_send if chunk.side == 0 else s.server_send)(bytes([byte]))
    s.client_fin()
    s.server_fin()
    return s.frames


CAPTURES = captures()
COMMANDS = [
    ("analyze",),
    ("analyze", "--format", "jsonl"),
    ("analyze", "--format", "json"),
    ("analyze", "--format", "jsonl", "--only-problems"),
    ("dump",),
    ("dump", "--format", "jsonl"),
]


@pytest.mark.parametrize("cut", list(CAPTURES))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_output_of_any_command_holds_a_secret(tmp_path: Path, cut: str, command):
    path = write_capture(tmp_path / "secrets.pcap", pcap_bytes(CAPTURES[cut]))
    result = run(*command, path)
    assert result.exit_code in (0, 2)
    assert_no_secret(result.stdout + result.stderr, f"{' '.join(command)} on {cut}")


def test_the_capture_really_holds_the_secrets():
    """The test is only as good as its capture: each secret is on the wire in clear."""
    wire = b"".join(p.payload for p in CAPTURES["whole"])
    for name, secret in SECRETS.items():
        if name == "scramble":  # the greeting carries it in two parts
            assert secret[:8] in wire and secret[8:] in wire
        else:
            assert secret in wire, name


def test_error_log_join_holds_no_secret(tmp_path: Path):
    path = write_capture(tmp_path / "secrets.pcap", pcap_bytes(CAPTURES["whole"]))
    log = tmp_path / "error.log"
    log.write_text(
        "2023-11-14 22:13:20 42 [Warning] Aborted connection 42 to db: 'shop' user: 'app' "
        "host: '10.0.0.1' (Got an error reading communication packets)\n"
    )
    for fmt in ("table", "jsonl", "json"):
        result = run("analyze", "--format", fmt, "--error-log", log, path)
        assert_no_secret(result.stdout + result.stderr, f"analyze --error-log ({fmt})")


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("cut", ["whole", "from the login on", "auth switch lost"])
def test_live_output_holds_no_secret(fmt: str, cut: str):
    output = replay_live(frame_tuples(CAPTURES[cut]), fmt)
    assert output
    assert_no_secret(output, f"live {fmt} on {cut}")


def test_the_check_sees_a_leak_in_any_of_its_forms():
    for leaked in (
        NATIVE_HASH.hex(),
        "auth " + NATIVE_HASH[:8].hex(" "),
        json.dumps(RSA_PASSWORD[:12].decode("latin-1")),
        repr(SHA2_SCRAMBLE[1:9]),
        "password=" + CLEAR_PASSWORD[:8],
    ):
        with pytest.raises(AssertionError):
            assert_no_secret(leaked, "a made-up output")


def test_the_outputs_are_not_empty_where_secrets_were_looked_for(tmp_path: Path):
    path = write_capture(tmp_path / "secrets.pcap", pcap_bytes(CAPTURES["whole"]))
    dump = run("dump", path).stdout
    assert "COM_CHANGE_USER user=admin" in dump and "auth_response password" in dump
    assert "COM_REGISTER_SLAVE server_id=7, host=replica-1, user=repl" in dump
