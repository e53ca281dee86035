"""The connection phase: greeting (or the ERR in its place), SSLRequest and TLS, the handshake
response, the authentication exchange, and COM_CHANGE_USER's replay of it."""

from __future__ import annotations

from mysqlwire.protocol import MySQLDecoder, Phase, Transport
from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_CONNECT_ATTRS,
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
    CLIENT_SECURE_CONNECTION,
    CLIENT_SSL,
    MARIADB_CLIENT_PROGRESS,
    MARIADB_CLIENT_STMT_BULK_OPERATIONS,
    SERVER,
)
from mysqlwire.protocol.events import (
    AuthMoreData,
    AuthResponse,
    AuthSwitchRequest,
    CommandFinished,
    CompressionStarted,
    Err,
    Greeting,
    HandshakeResponse,
    Ok,
    SequenceError,
    SslRequest,
    TlsAlert,
    TlsRecord,
    TlsVersion,
    UnexpectedPacket,
)
from tests.mysql_builder import (
    AUTH_RESPONSE,
    CLIENT_BASE,
    FAST_AUTH_SUCCESS,
    MARIADB_EXTENDED,
    PERFORM_FULL_AUTHENTICATION,
    PING,
    PUBLIC_KEY,
    Conversation,
    alert,
    application_data,
    auth_switch_request,
    change_cipher_spec,
    change_user,
    client_hello,
    encrypted_alert,
    err,
    greeting,
    greeting_v9,
    handshake_response41,
    handshake_response320,
    mariadb_greeting,
    ok,
    server_hello,
    session_track,
    ssl_request,
)
from tests.protocol.helpers import decode, names, of, one, problems, run

# --- greeting -----------------------------------------------------------------------------


def test_a_mysql_greeting_gives_version_thread_id_capabilities_and_plugin():
    decoder = MySQLDecoder()
    events = run(decoder, Conversation().server(greeting("8.0.36", 1234), seq=0))
    hello = one(events, Greeting)
    assert (hello.server_version, hello.thread_id, hello.protocol_version) == ("8.0.36", 1234, 10)
    assert (hello.charset, hello.status, hello.auth_plugin) == (255, 2, "caching_sha2_password")
    assert hello.capabilities == 0xDFFFFFFF
    assert not hello.is_mariadb
    assert (decoder.server_version, decoder.thread_id, decoder.phase) == (
        "8.0.36",
        1234,
        Phase.LOGIN,
    )


def test_a_mariadb_greeting_drops_the_5_5_5_prefix_and_reads_extended_capabilities():
    hello = one(decode(Conversation().server(mariadb_greeting("10.11.6-MariaDB", 9))), Greeting)
    assert hello.server_version == "10.11.6-MariaDB"
    assert hello.is_mariadb
    assert hello.capabilities & MARIADB_CLIENT_PROGRESS
    assert hello.capabilities & MARIADB_CLIENT_STMT_BULK_OPERATIONS


def test_a_protocol_9_greeting_is_read_as_far_as_it_goes():
    hello = one(decode(Conversation().server(greeting_v9("3.22.32", 5))), Greeting)
    assert (hello.protocol_version, hello.server_version, hello.thread_id) == (9, "3.22.32", 5)


def test_err_1040_in_place_of_the_greeting_ends_the_connection():
    decoder = MySQLDecoder()
    talk = Conversation().server(err(1040, "Too many connections", "08004"), seq=0)
    refused = one(run(decoder, talk), Err)
    assert (refused.code, refused.sql_state, refused.message) == (
        1040,
        "08004",
        "Too many connections",
    )
    assert (refused.phase, refused.reply_to, refused.side) == ("greeting", "connect", SERVER)
    assert decoder.phase is Phase.ENDED


def test_err_1130_in_place_of_the_greeting_has_no_sql_state():
    message = "Host 'lumberjack.home' is not allowed to connect to this MySQL server"
    talk = Conversation().server(err(1130, message, sql_state=None), seq=0)
    events = decode(talk)
    refused = one(events, Err)
    assert (refused.code, refused.sql_state, refused.message) == (1130, "", message)
    assert problems(events) == []


def test_a_client_that_keeps_talking_after_a_refusal_is_unexpected():
    talk = Conversation().server(err(1040, "Too many connections"), seq=0)
    talk.client(handshake_response41())
    unexpected = one(decode(talk), UnexpectedPacket)
    assert unexpected.side == CLIENT


# --- SSLRequest and TLS --------------------------------------------------------------------


def tls_login(version: str = "TLS 1.2") -> Conversation:
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello())
    talk.raw(SERVER, server_hello(version) + change_cipher_spec())
    talk.raw(CLIENT, change_cipher_spec() + application_data(40))
    talk.raw(CLIENT, application_data(300))  # the handshake response, encrypted
    talk.raw(SERVER, application_data(30))
    return talk


def test_ssl_request_switches_both_directions_to_tls():
    decoder = MySQLDecoder()
    events = run(decoder, tls_login())
    request = one(events, SslRequest)
    assert request.capabilities & CLIENT_SSL
    assert request.seq == 1 and request.size == 32
    assert decoder.tls
    assert decoder.phase is Phase.TLS
    assert decoder.transport == [Transport.TLS, Transport.TLS]
    assert problems(events) == []


def test_tls_records_are_counted_each_way():
    decoder = MySQLDecoder()
    run(decoder, tls_login())
    assert decoder.tls_records == [4, 3]  # client: hello, CCS, 2 data; server: hello, CCS, data
    content_type, length, frame, _ts = decoder.last_tls_record[SERVER]
    assert (content_type, length, frame) == (23, 30, 7)


def test_tls_records_are_events_only_in_detail_mode():
    assert of(decode(tls_login()), TlsRecord) == []
    records = of(decode(tls_login(), detail=True), TlsRecord)
    assert [r.content_type for r in records] == [22, 22, 20, 20, 23, 23, 23]


def test_the_server_hello_gives_the_tls_version():
    decoder = MySQLDecoder()
    version = one(run(decoder, tls_login("TLS 1.2")), TlsVersion)
    assert (version.version, version.side) == ("TLS 1.2", SERVER)
    assert decoder.tls_version == "TLS 1.2"


def test_tls_1_3_is_read_from_the_supported_versions_extension():
    assert one(decode(tls_login("TLS 1.3")), TlsVersion).version == "TLS 1.3"


def test_a_server_hello_cut_across_segments_still_gives_the_version():
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello())
    hello = server_hello("TLS 1.3")
    talk.raw(SERVER, hello[:3]).raw(SERVER, hello[3:20]).raw(SERVER, hello[20:])
    assert one(decode(talk), TlsVersion).version == "TLS 1.3"


def test_the_bytes_after_ssl_request_in_the_same_segment_are_tls():
    talk = Conversation().server(greeting(), seq=0)
    talk.raw(CLIENT, talk_ssl_request_with_hello())
    decoder = MySQLDecoder()
    events = run(decoder, talk)
    assert names(events) == ["Greeting", "SslRequest"]
    assert decoder.tls_records[CLIENT] == 1


def talk_ssl_request_with_hello() -> bytes:
    from tests.mysql_builder import frame

    return frame(ssl_request(), 1) + client_hello()


def test_a_clear_text_alert_is_visible_with_level_and_description():
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello())
    talk.raw(SERVER, alert(2, 40))  # fatal handshake_failure
    shown = one(decode(talk), TlsAlert)
    assert (shown.side, shown.encrypted, shown.level, shown.description) == (SERVER, False, 2, 40)


def test_an_alert_after_change_cipher_spec_is_encrypted_the_tls_form_of_goodbye():
    talk = tls_login()
    talk.raw(CLIENT, encrypted_alert())
    shown = one(decode(talk), TlsAlert)
    assert (shown.side, shown.encrypted, shown.level, shown.description) == (
        CLIENT,
        True,
        None,
        None,
    )


# --- handshake response -------------------------------------------------------------------


def test_handshake_response_41_gives_user_database_plugin_and_attributes():
    decoder = MySQLDecoder()
    talk = Conversation().server(greeting(), seq=0)
    talk.client(
        handshake_response41(
            "alice",
            "shop",
            attributes={"_client_name": "pymysql", "_client_version": "1.1.1", "program_name": "x"},
        )
    )
    login = one(run(decoder, talk), HandshakeResponse)
    assert (login.user, login.database, login.auth_plugin) == (
        "alice",
        "shop",
        "caching_sha2_password",
    )
    assert login.attributes == {
        "_client_name": "pymysql",
        "_client_version": "1.1.1",
        "program_name": "x",
    }
    assert login.protocol41 and login.auth_response_length == len(AUTH_RESPONSE)
    assert login.capabilities & CLIENT_CONNECT_ATTRS
    assert (login.max_packet, login.charset, login.seq) == (1 << 24, 255, 1)
    assert (decoder.user, decoder.database, decoder.phase) == ("alice", "shop", Phase.AUTH)


def test_handshake_response_41_with_a_one_byte_auth_length():
    capabilities = CLIENT_BASE & ~CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    talk = Conversation().server(greeting(), seq=0)
    talk.client(handshake_response41("bob", None, capabilities=capabilities, attributes={}))
    login = one(decode(talk), HandshakeResponse)
    assert (login.user, login.database, login.auth_response_length, login.attributes) == (
        "bob",
        None,
        32,
        {},
    )


def test_handshake_response_41_with_a_nul_terminated_auth_response():
    capabilities = CLIENT_BASE & ~CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA & ~CLIENT_SECURE_CONNECTION
    talk = Conversation().server(greeting(), seq=0)
    talk.client(
        handshake_response41("carol", "db", capabilities=capabilities, auth_response=b"12345678")
    )
    login = one(decode(talk), HandshakeResponse)
    assert (login.user, login.database, login.auth_response_length) == ("carol", "db", 8)


def test_a_mariadb_client_sends_its_extended_capabilities_in_the_filler():
    capabilities = (CLIENT_BASE & ~1) | MARIADB_EXTENDED
    talk = Conversation().server(mariadb_greeting(), seq=0)
    talk.client(handshake_response41(capabilities=capabilities))
    login = one(decode(talk), HandshakeResponse)
    assert login.capabilities & MARIADB_CLIENT_PROGRESS


def test_handshake_response_320_of_pre_4_1_clients():
    talk = Conversation().server(greeting("5.0.54"), seq=0)
    talk.client(handshake_response320("old", "legacy"))
    login = one(decode(talk), HandshakeResponse)
    assert (login.protocol41, login.user, login.database, login.auth_response_length) == (
        False,
        "old",
        "legacy",
        8,
    )
    assert login.max_packet == 0xFFFFFF


# --- authentication -----------------------------------------------------------------------


def login_until_auth() -> Conversation:
    return Conversation().server(greeting(), seq=0).client(handshake_response41())


def test_auth_switch_request_then_response_then_ok():
    talk = login_until_auth()
    talk.server(auth_switch_request("mysql_native_password"))
    talk.client(AUTH_RESPONSE[:20])
    talk.server(ok())
    decoder = MySQLDecoder()
    events = run(decoder, talk)
    assert one(events, AuthSwitchRequest).plugin == "mysql_native_password"
    assert one(events, AuthResponse).step == "auth_switch_response"
    assert one(events, Ok).reply_to == "authentication"
    assert decoder.phase is Phase.COMMAND
    assert problems(events) == []


def test_caching_sha2_fast_auth_success_then_ok():
    talk = login_until_auth().server(FAST_AUTH_SUCCESS, ok())
    events = decode(talk)
    assert one(events, AuthMoreData).step == "fast_auth_success"
    assert names(events)[-1] == "Ok"
    assert problems(events) == []


def test_caching_sha2_full_authentication_with_a_public_key_request():
    talk = login_until_auth().server(PERFORM_FULL_AUTHENTICATION)
    talk.client(b"\x02")  # request the server's public key
    talk.server(PUBLIC_KEY)
    talk.client(bytes(256))  # the password, RSA-encrypted
    talk.server(ok())
    events = decode(talk)
    assert [e.step for e in of(events, AuthMoreData)] == [
        "perform_full_authentication",
        "public_key",
    ]
    assert [e.step for e in of(events, AuthResponse)] == ["public_key_request", "password"]
    assert problems(events) == []


def test_caching_sha2_full_authentication_over_tls_sends_the_password_in_clear():
    talk = login_until_auth().server(PERFORM_FULL_AUTHENTICATION)
    talk.client(b"s3cret\0")
    talk.server(ok())
    events = decode(talk)
    assert one(events, AuthResponse).step == "password"


def test_sha256_password_after_an_auth_switch_and_a_refusal():
    talk = login_until_auth().server(auth_switch_request("sha256_password"))
    talk.client(b"\x01")  # sha256_password's public key request
    talk.server(PUBLIC_KEY)
    talk.client(bytes(256))
    talk.server(err(1045, "Access denied for user 'dsm1'@'10.21.179.53' (using password: YES)"))
    decoder = MySQLDecoder()
    events = run(decoder, talk)
    assert one(events, AuthSwitchRequest).plugin == "sha256_password"
    assert [e.step for e in of(events, AuthResponse)] == ["auth_switch_response", "password"]
    refused = one(events, Err)
    assert (refused.code, refused.phase, refused.reply_to) == (
        1045,
        "authentication",
        "authentication",
    )
    assert decoder.phase is Phase.ENDED
    assert problems(events) == []


def test_the_ok_that_ends_authentication_carries_session_state():
    talk = login_until_auth().server(ok(session_state=[session_track("schema", "test")]))
    assert one(decode(talk), Ok).session_state == [("schema", "test")]


def test_compression_starts_after_the_authentication_ok_when_both_sides_set_it():
    decoder = MySQLDecoder()
    events = run(decoder, Conversation().login(compression="zlib"))
    started = one(events, CompressionStarted)
    assert (started.algorithm, started.inferred) == ("zlib", False)
    assert decoder.compression == "zlib"
    assert decoder.transport == [Transport.COMPRESSED, Transport.COMPRESSED]


def test_zstd_compression_is_named_when_negotiated():
    decoder = MySQLDecoder()
    run(decoder, Conversation().login(compression="zstd"))
    assert decoder.compression == "zstd"


# --- COM_CHANGE_USER ----------------------------------------------------------------------


def test_change_user_success_replays_authentication_and_switches_user():
    decoder = MySQLDecoder()
    talk = Conversation().login(user="root", database="test")
    talk.command(PING).server(ok())
    talk.command(change_user("root2", "other"))
    talk.server(auth_switch_request("mysql_native_password"))
    talk.client(AUTH_RESPONSE[:20])
    talk.server(ok())
    events = run(decoder, talk)
    assert problems(events) == []
    assert one(events, AuthSwitchRequest).plugin == "mysql_native_password"
    finished = of(events, CommandFinished)[-1]
    assert (finished.command, finished.outcome, finished.response_packets) == (
        "COM_CHANGE_USER",
        "ok",
        2,
    )
    assert (decoder.user, decoder.database) == ("root2", "other")


def test_change_user_failure_keeps_the_old_user():
    decoder = MySQLDecoder()
    talk = Conversation().login(user="root")
    talk.command(change_user("root2"))
    talk.server(auth_switch_request("mysql_native_password"))
    talk.client(AUTH_RESPONSE[:20])
    talk.server(err(1045, "Access denied for user 'root2'@'127.0.0.1' (using password: YES)"))
    events = run(decoder, talk)
    refused = one(events, Err)
    assert (refused.reply_to, refused.phase) == ("COM_CHANGE_USER", "authentication")
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.error_code) == ("error", 1045)
    assert decoder.user == "root"
    assert of(events, SequenceError) == []
