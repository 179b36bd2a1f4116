"""Bodies at --flow-detail 3/4 through the content views (reference §8, §12): decoded
(gzip), pretty-printed JSON, url-encoded forms, image metadata, and the cut at detail 3
(content_view_lines_cutoff, as mitmproxy 12; mitmdump 8.1.1 always cut at 70 lines). The expected text is what /usr/bin/mitmdump 8.1.1 prints (the
JSON keys are sorted in these documents because 8.1.1 sorts them; mitmc keeps document
order like mitmproxy >= 11)."""
import gzip
import struct
import zlib

import e2e_util as u


def reply(body, ctype, extra=b""):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n"
            % (ctype, extra, len(body)) + body)


def fetch(curl, proxy, up, path="/", *args):
    r = curl(proxy.port, "http://127.0.0.1:%d%s" % (up.port, path), *args)
    assert r.returncode == 0, r.stderr


def block_after(proxy, marker, n, last):
    """The n stdout lines after the first line containing marker, once a line matching the
    regex last has been printed."""
    assert proxy.wait_stdout(last), proxy.stdout
    lines = proxy.stdout.splitlines()
    i = next(k for k, line in enumerate(lines) if marker in line)
    return [line.rstrip("\r") for line in lines[i + 1:i + 1 + n]]


def test_gzip_json_is_decoded_and_pretty_printed(mitmc, raw_upstream, curl):
    doc = b'{"a": [1, 2.50, {"x": null, "y": true}], "b": "h\\u00e9llo", "c": {}}'
    up = raw_upstream(reply=reply(gzip.compress(doc, mtime=0), b"application/json", b"Content-Encoding: gzip\r\n"))
    p = mitmc("--flow-detail", "3")
    fetch(curl, p, up, "/data.json")
    lines = block_after(p, "Content-Encoding: gzip", 24, r"^    }$")
    i = lines.index("    {")
    assert lines[i:i + 12] == [
        "    {",
        '        "a": [',
        "            1,",
        "            2.5,",
        "            {",
        '                "x": null,',
        '                "y": true',
        "            }",
        "        ],",
        '        "b": "h\u00e9llo",',
        '        "c": {}',
        "    }",
    ], lines


@u.mitmc_only  # mitmdump 8.1.1 always cuts at 70 lines; mitmproxy 12 reads the option
def test_detail_3_cuts_at_content_view_lines_cutoff_and_detail_4_does_not(mitmc, raw_upstream, curl):
    body = "\n".join("line %d" % i for i in range(100)).encode()
    up = raw_upstream(reply=reply(body, b"text/plain"))
    p_default = mitmc("--flow-detail", "3")  # content_view_lines_cutoff 512: nothing cut
    fetch(curl, p_default, up, "/long")
    assert p_default.wait_stdout(r"^    line 99$"), p_default.stdout
    assert "(cut off)" not in p_default.stdout
    p3 = mitmc("--flow-detail", "3", "--set", "content_view_lines_cutoff=70")
    fetch(curl, p3, up, "/long")
    assert p3.wait_stdout(r"^\s+\(cut off\)"), p3.stdout
    out = [line.rstrip("\r") for line in p3.stdout.splitlines()]
    assert "    line 69" in out and "    line 70" not in out
    assert out[out.index("    line 69") + 1] == "    (cut off)"
    p4 = mitmc("--flow-detail", "4")
    fetch(curl, p4, up, "/long")
    assert p4.wait_stdout(r"^    line 99$"), p4.stdout
    assert "(cut off)" not in p4.stdout


def test_urlencoded_form_and_binary_raw(mitmc, raw_upstream, curl):
    up = raw_upstream(reply=reply(b"hello\tworld\x01", b"text/plain"))
    p = mitmc("--flow-detail", "3")
    fetch(curl, p, up, "/form", "-d", "a=1&b=x%20y&a=2&longkeyname=v")
    lines = block_after(p, "Content-Type: application/x-www-form-urlencoded", 5, r"^    longkeyname: v")
    assert lines == ["", "    a:           1", "    b:           x y", "    a:           2", "    longkeyname: v"], lines
    assert p.wait_stdout(r"^    hello\tworld\\x01$"), p.stdout


def png(w, h, text):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", text) + chunk(b"IDAT", zlib.compress(b"\0" * (3 * w + 1) * h)) + chunk(b"IEND", b""))


def test_image_metadata(mitmc, raw_upstream, curl):
    up = raw_upstream(reply=reply(png(2, 3, b"Comment\x00hi there"), b"image/png"))
    p = mitmc("--flow-detail", "3")
    fetch(curl, p, up, "/img.png")
    lines = block_after(p, "Content-Type: image/png", 6, r"^    Comment: hi there")
    assert lines[2:5] == ["    Format:  Portable network graphics", "    Size:    2 x 3 px", "    Comment: hi there"], lines
