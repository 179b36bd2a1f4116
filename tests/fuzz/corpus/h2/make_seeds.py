#!/usr/bin/python3
"""Writes the seeds of fuzz_h2 (tests/fuzz/fuzz_h2.c) next to this script: stackrun scripts
whose client steps are HTTP/2 frames made with python3-h2 (the runner sends the preface and
SETTINGS first). Run again after changing it: /usr/bin/python3 make_seeds.py"""
import os

import h2.config
import h2.connection

HERE = os.path.dirname(os.path.abspath(__file__))


def client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    c.data_to_send()  # the runner sends its own preface
    return c


def steps(data, target=0):
    """data as stackrun data steps (control byte, length byte, bytes) from target."""
    out = bytearray()
    for i in range(0, len(data), 255):
        piece = data[i:i + 255]
        out += bytes([target << 3, len(piece)]) + piece
    return bytes(out)


def req(c, method=b"GET", path=b"/", end=True, extra=()):
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(b":method", method), (b":scheme", b"http"), (b":authority", b"origin.test"),
                         (b":path", path)] + list(extra), end_stream=end)
    return sid


RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\n\r\nhello"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n"


def seed_get():
    c = client()
    req(c, extra=[(b"cookie", b"a=1"), (b"cookie", b"b=2")])
    return steps(c.data_to_send()) + steps(RESP, 1)


def seed_post_trailers():
    c = client()
    sid = req(c, b"POST", b"/up", end=False, extra=[(b"content-type", b"text/plain")])
    c.send_data(sid, b"x" * 600)
    c.send_headers(sid, [(b"x-checksum", b"1")], end_stream=True)
    return steps(c.data_to_send()) + steps(CHUNKED, 1)


def seed_two_streams_one_reset():
    c = client()
    a = req(c, path=b"/a")
    req(c, path=b"/b")
    c.reset_stream(a)
    return steps(c.data_to_send()) + steps(RESP, 1) + steps(RESP, 2)


def seed_rapid_reset():
    c = client()
    for _ in range(40):
        c.reset_stream(req(c, path=b"/r"))
    return steps(c.data_to_send())


def seed_control_frames():
    c = client()
    c.ping(b"12345678")
    c.increment_flow_control_window(1 << 20)
    c.update_settings({4: 1 << 20})
    req(c, path=b"/x")
    c.close_connection()
    return steps(c.data_to_send()) + bytes([3])


def seed_expect_continue():
    c = client()
    sid = req(c, b"PUT", b"/e", end=False, extra=[(b"expect", b"100-continue"), (b"content-length", b"3")])
    c.send_data(sid, b"abc", end_stream=True)
    return steps(c.data_to_send()) + bytes([6]) + steps(RESP, 1)


def seed_garbage():
    return steps(b"\x00\x00\x05\x01\x04\x00\x00\x00\x01\x82\x86\x84\x41\xff" + bytes(range(40)))


for name, fn in sorted(globals().items()):
    if name.startswith("seed_"):
        with open(os.path.join(HERE, name[5:]), "wb") as f:
            f.write(fn())
