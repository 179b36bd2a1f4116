"""A small tnetstring reader of our own (not mitmc's) for the flow-file tests, so a test can
fail if mitmc writes something mitmproxy would not read back the same."""


def tns_load(data, pos=0):
    """Decode one tnetstring at data[pos:]; returns (value, next position). `,` is bytes,
    `;` str; raises ValueError on malformed or incomplete input."""
    colon = data.index(b":", pos, pos + 13)
    size = int(data[pos:colon])
    start, end = colon + 1, colon + 1 + size
    if end >= len(data):
        raise ValueError("incomplete tnetstring at %d" % pos)
    payload, tag = data[start:end], data[end:end + 1]
    if tag == b",":
        return payload, end + 1
    if tag == b";":
        return payload.decode("utf-8"), end + 1
    if tag == b"#":
        return int(payload), end + 1
    if tag == b"^":
        return float(payload), end + 1
    if tag == b"!":
        return payload == b"true", end + 1
    if tag == b"~":
        return None, end + 1
    items, p = [], start
    while p < end:
        v, p = tns_load(data, p)
        items.append(v)
    if p != end:
        raise ValueError("nested value overruns its container at %d" % pos)
    if tag == b"]":
        return items, end + 1
    if tag == b"}":
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(items[::2], items[1::2])}, end + 1
    raise ValueError("unknown tag %r at %d" % (tag, pos))


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    for _ in range(100000):
        if pos == len(data):
            return out
        rec, pos = tns_load(data, pos)
        out.append(rec)
    raise AssertionError("too many records")
