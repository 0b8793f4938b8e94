"""Frames no client sends: a huge length, a truncated request, an unknown API key, versions the
broker does not have (ApiVersions is answered with UNSUPPORTED_VERSION, as Kafka does), a
negative length, garbage. What the broker does with each (answers, or closes the connection),
and that a fresh connection is served afterwards."""

import socket
import struct

from common import NAME, Connection, emit, error_code_name, i16, i32, Reader, step, string


def outcome(conn):
    answer = conn.receive()
    conn.close()
    if isinstance(answer, str):
        return answer
    return ["answered", error_code_name(Reader(answer).i16())]


def raw(frame, half_close=True):
    conn = Connection(timeout=20)
    try:
        conn.send_frame(frame)
        if half_close:
            # The broker sees the end of the stream: a request cut short cannot be waited for.
            conn.sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # already closed by the broker: receive() says so
    return outcome(conn)


def api_versions_ok():
    conn = Connection()
    answer = conn.call(18, 0, b"")
    conn.close()
    return "closed" if isinstance(answer, str) else error_code_name(Reader(answer).i16())


def request(api_key, version, body=b"", flexible=False):
    header = i16(api_key) + i16(version) + i32(7) + string(NAME)
    if flexible:
        # Request header v2 ends with its tagged fields (none); so does a flexible body.
        header += b"\0"
        body += b"\0"
    return i32(len(header) + len(body)) + header + body


out = {}
cases = [
    ("huge_length", struct.pack(">i", 0x7FFFFFF0) + b"\0" * 16),
    ("negative_length", struct.pack(">i", -5) + b"\0" * 16),
    ("truncated", request(3, 4, b"\0\0\0\1")[:-3]),
    ("length_beyond_bytes", i32(100) + request(18, 0)[4:]),
    ("unknown_api_key", request(9999, 0)),
    ("metadata_v99", request(3, 99)),
    ("api_versions_v99", request(18, 99, flexible=True)),
    ("api_versions_v99_header_v1", request(18, 99)),
    ("api_versions_v99_no_close", None),
    ("garbage", b"\x13\x37" * 40),
    ("header_only_half", i32(3) + b"\0\3\0"),
]
for label, frame in cases:
    step(label)
    if frame is None:
        out[label] = raw(request(18, 99, flexible=True), half_close=False)
    else:
        out[label] = raw(frame)
    out[label + "_then_fresh_connection"] = api_versions_ok()
step("api versions v99 answer")
conn = Connection()
conn.send_frame(request(18, 99, flexible=True))
answer = conn.receive()
conn.close()
if not isinstance(answer, str):
    r = Reader(answer)
    error = r.i16()
    keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    # What a client needs from it: the versions of ApiVersions itself.
    out["api_versions_v99_lists"] = [error_code_name(error),
                                     [k for k in keys if k[0] == 18][:1] != []]
emit(out)
