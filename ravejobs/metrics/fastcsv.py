"""Vectorised parsing of metrics.csv (`step,time,key,value` rows) with numpy.

Why: `csv.reader` into dicts costs ~0.4 s per run of 3M steps logged every 100 steps (210k rows),
so a report over 100 such runs would take a minute. Here every row is parsed at once: fields are
cut out as right-aligned 16-byte windows, the decimal point is squeezed out, and eight digits at
a time become an integer (SWAR on uint64). Mantissa and power of ten are both exact, so one
division gives the same correctly rounded float as `float(text)`. Given the keys it wants
(a report draws a few of a dozen), only their rows are parsed: keys are matched by their last
eight bytes in one sorted lookup.

Rows the fast path cannot vouch for (`nan`, spaces, overlong fields) go through Python's own
`int`/`float`, row by row; a block whose shape is not plain CSV (quotes, a line without exactly
three commas) goes to `ravejobs.metrics.read_metrics`. Rows that neither can parse are skipped,
as `read_metrics` skips them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

W = 16                                   # widest numeric or key field on the fast path
_U = np.uint64
_ONES = _U(0x0101010101010101)
_HIGHS = _U(0x8080808080808080)
_ZEROS = _U(0x3030303030303030)          # eight ASCII '0'
_DOTS = _U(0x2E2E2E2E2E2E2E2E)
_ES = _U(0x6565656565656565)
# _TOP[k]: keeps the k most significant (highest-address) bytes of a little-endian word.
_TOP = np.array([0] + [(0xFFFFFFFFFFFFFFFF << (8 * (8 - k))) & 0xFFFFFFFFFFFFFFFF
                       for k in range(1, 9)], dtype=np.uint64)
# _UPTO[d]: bytes 0..d of a word.
_UPTO = np.array([(1 << (8 * (d + 1))) - 1 for d in range(8)], dtype=np.uint64)
_POW10 = np.array([float(10**k) for k in range(23)])  # exact in float64
_MAX_KEYS = 256                          # distinct keys found by equality; more -> np.unique


@dataclass(frozen=True)
class Rows:
    """Parsed rows in file order; `code` indexes `keys`."""

    keys: list[str]
    code: np.ndarray    # int32
    step: np.ndarray    # int64
    time: np.ndarray    # float64
    value: np.ndarray   # float64

    def __len__(self) -> int:
        return len(self.code)


def _first_zero_byte(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(has a zero byte, index of the lowest one). Exact for the lowest zero byte."""
    z = (x - _ONES) & ~x & _HIGHS
    low = z & (~z + _U(1))
    return z != 0, np.minimum(np.bitwise_count(low - _U(1)) // 8, 7)


def _swar8(u: np.ndarray) -> np.ndarray:
    """Eight digits 0..9 in bytes (byte 0 most significant) -> their integer."""
    u = u * _U(10) + (u >> _U(8))
    mask = _U(0x000000FF000000FF)
    mul1 = _U(100 + (1_000_000 << 32))
    mul2 = _U(1 + (10_000 << 32))
    return (((u & mask) * mul1) + (((u >> _U(16)) & mask) * mul2)) >> _U(32)


def _digits_ok(x: np.ndarray) -> np.ndarray:
    """Every byte of x (already XOR '0') is 0..9."""
    return (((x + _U(0x7676767676767676)) | x) & _HIGHS) == 0


def _decimal(words: np.ndarray, pbuf: np.ndarray, start: np.ndarray, end: np.ndarray,
             allow_dot: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed decimal fields [start, end): (mantissa as float, digits after the point, ok).

    `pbuf` is the buffer with W bytes of padding in front and `words[i]` the 8 bytes at
    `pbuf[i]`, so `words[end]`, `words[end + 8]` are the 16 bytes that end where a field ends.
    """
    first = pbuf[start + W]
    neg = first == 45
    signed = neg | (first == 43)
    length = end - start - signed
    k = np.clip(length, 0, W)
    hi, lo = words[end], words[end + 8]
    m_hi, m_lo = _TOP[np.clip(k - 8, 0, 8)], _TOP[np.minimum(k, 8)]
    hi = (hi & m_hi) | (_ZEROS & ~m_hi)
    lo = (lo & m_lo) | (_ZEROS & ~m_lo)
    frac = np.zeros(len(end), dtype=np.int64)
    has_dot = np.zeros(len(end), dtype=bool)
    if allow_dot:
        in_hi, d_hi = _first_zero_byte(hi ^ _DOTS)
        in_lo, d_lo = _first_zero_byte(lo ^ _DOTS)
        has_dot = in_hi | in_lo
        if has_dot.any():
            # Squeeze the point out: every byte before it moves one place towards the end.
            upto_lo = _UPTO[d_lo]
            new_lo = np.where(in_lo, (lo & ~upto_lo) | ((lo << _U(8)) & upto_lo) | (hi >> _U(56)),
                              (lo << _U(8)) | (hi >> _U(56)))
            upto_hi = _UPTO[d_hi]
            new_hi = np.where(in_hi, (hi & ~upto_hi) | ((hi << _U(8)) & upto_hi), hi << _U(8))
            new_hi |= _U(0x30)
            lo = np.where(in_hi, lo, np.where(in_lo, new_lo, lo))
            hi = np.where(in_hi | in_lo, new_hi, hi)
            frac = np.where(in_hi, 15 - d_hi.astype(np.int64),
                            np.where(in_lo, 7 - d_lo.astype(np.int64), 0))
    hi ^= _ZEROS
    lo ^= _ZEROS
    ok = _digits_ok(hi) & _digits_ok(lo) & (length > 0) & (length <= W) & (length > has_dot)
    mant = _swar8(hi) * _U(100_000_000) + _swar8(lo)
    ok &= mant < _U(1 << 53)
    value = mant.astype(np.float64)
    value[neg] *= -1.0
    return value, frac, ok


def _uint(words: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fields of 1..16 plain digits: (value as uint64, ok). One word when all fit in eight."""
    length = end - start
    if len(length) and int(length.max()) <= 8:
        m = _TOP[np.clip(length, 0, 8)]
        lo = ((words[end + 8] & m) | (_ZEROS & ~m)) ^ _ZEROS
        return _swar8(lo), _digits_ok(lo) & (length > 0)
    k = np.clip(length, 0, W)
    m_hi, m_lo = _TOP[np.clip(k - 8, 0, 8)], _TOP[np.minimum(k, 8)]
    hi = ((words[end] & m_hi) | (_ZEROS & ~m_hi)) ^ _ZEROS
    lo = ((words[end + 8] & m_lo) | (_ZEROS & ~m_lo)) ^ _ZEROS
    ok = _digits_ok(hi) & _digits_ok(lo) & (length > 0) & (length <= W)
    return _swar8(hi) * _U(100_000_000) + _swar8(lo), ok


def _clock(words: np.ndarray, pbuf: np.ndarray, start: np.ndarray,
           end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time fields: MetricsWriter's `%.3f` through integers, else the general reader."""
    if len(end) and bool((pbuf[end - 4 + W] == 46).all()):
        whole, ok_w = _uint(words, start, end - 4)
        frac, ok_f = _uint(words, end - 3, end)
        millis = whole * _U(1000) + frac
        ok = ok_w & ok_f & (whole < _U(1 << 43))
        return millis.astype(np.float64) / 1000.0, ok
    return _numbers(words, pbuf, start, end)


def _lower(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """ASCII letters of the kept bytes in lower case; other bytes become 0xFF (no letter)."""
    return (x & keep) | ~keep | _U(0x2020202020202020)


def _numbers(words: np.ndarray, pbuf: np.ndarray, start: np.ndarray,
             end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float fields [start, end) as `float()` reads them: (values, ok)."""
    mant, frac, ok = _decimal(words, pbuf, start, end)
    power = -frac
    # Exponent rows ("1.5e-05"): the mantissa ends at the 'e', the exponent follows it.
    length = np.clip(end - start, 0, W)
    hi, lo = words[end], words[end + 8]
    m_hi, m_lo = _TOP[np.clip(length - 8, 0, 8)], _TOP[np.minimum(length, 8)]
    e_hi, de_hi = _first_zero_byte(_lower(hi, m_hi) ^ _ES)
    e_lo, de_lo = _first_zero_byte(_lower(lo, m_lo) ^ _ES)
    exp_rows = np.flatnonzero((e_hi | e_lo) & (end - start <= W))
    if exp_rows.size:
        where = np.where(e_hi, de_hi.astype(np.int64), 8 + de_lo.astype(np.int64))[exp_rows]
        epos = end[exp_rows] - W + where
        m2, f2, ok2 = _decimal(words, pbuf, start[exp_rows], epos)
        e2, _, oke = _decimal(words, pbuf, epos + 1, end[exp_rows], allow_dot=False)
        mant[exp_rows] = m2
        power[exp_rows] = e2.astype(np.int64) - f2
        ok[exp_rows] = ok2 & oke
    ok &= np.abs(power) <= 22
    p = np.clip(power, -22, 22)
    values = np.where(p >= 0, mant * _POW10[np.maximum(p, 0)], mant / _POW10[np.maximum(-p, 0)])
    return values, ok


def _key_words(words: np.ndarray, start: np.ndarray,
               end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key fields as (length, first word, second word), right-aligned and zero-filled."""
    length = end - start
    k = np.clip(length, 0, W)
    hi = words[end] & _TOP[np.clip(k - 8, 0, 8)]
    lo = words[end + 8] & _TOP[np.minimum(k, 8)]
    return length, hi, lo


def _key_codes(words: np.ndarray, start: np.ndarray, end: np.ndarray, data: np.ndarray,
               wanted: list[str] | None) -> tuple[list[str], np.ndarray]:
    """Key of each row as a code into a list of keys; -1 for unwanted or long (> W) keys.

    With `wanted`, rows are only compared with those keys (why: the report reads a few keys
    of many, and comparing is cheaper than telling all keys apart).
    """
    code = np.full(len(end), -1, dtype=np.int32)
    if wanted is not None:
        length = end - start
        last8 = words[end + 8]     # the 8 bytes before the comma that ends the key
        raws = [(i, k.encode()) for i, k in enumerate(wanted)]
        # Keys of 8+ bytes: one sorted lookup of those 8 bytes, then length and the bytes
        # before them checked on the few candidate rows.
        long = [(i, raw) for i, raw in raws if 8 <= len(raw) <= W]
        if long:
            tail = np.array([int.from_bytes(raw[-8:], "little") for _, raw in long], np.uint64)
            head = np.array([int.from_bytes((bytes(W - len(raw)) + raw)[:8], "little")
                             for _, raw in long], np.uint64)
            keep = _TOP[[len(raw) - 8 for _, raw in long]]
            sizes = np.array([len(raw) for _, raw in long])
            order = np.argsort(tail)
            pos = np.minimum(np.searchsorted(tail[order], last8), len(long) - 1)
            cand = np.flatnonzero(tail[order][pos] == last8)
            which = order[pos[cand]]
            ok = (length[cand] == sizes[which]) & (
                (words[end[cand]] & keep[which]) == (head[which] & keep[which]))
            code[cand[ok]] = np.array([i for i, _ in long], np.int32)[which[ok]]
        for i, raw in raws:
            if 0 < len(raw) < 8:
                pad = int.from_bytes(raw.rjust(8, b"\0"), "little")
                hit = ((last8 & _TOP[len(raw)]) == _U(pad)) & (length == len(raw))
                code[hit] = i
        return list(wanted), code
    length, hi, lo = _key_words(words, start, end)
    keys: list[str] = []
    todo = np.flatnonzero((length > 0) & (length <= W))
    while todo.size and len(keys) < _MAX_KEYS:
        r = todo[0]
        same = (hi == hi[r]) & (lo == lo[r]) & (length == length[r])
        code[same] = len(keys)
        keys.append(data[start[r]:end[r]].tobytes().decode(errors="replace"))
        todo = todo[code[todo] < 0]
    if todo.size:  # very many distinct keys: sort them out instead
        pairs = np.stack([hi[todo], lo[todo], length[todo].astype(np.uint64)], axis=1)
        uniq, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        for r in todo[first]:
            keys.append(data[start[r]:end[r]].tobytes().decode(errors="replace"))
        code[todo] = len(keys) - len(uniq) + inv.ravel()
    return keys, code


def _slow_rows(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray,
               keys: list[str], wanted: list[str] | None) -> dict[int, tuple]:
    """Rows the fast path refused, parsed by Python as read_metrics would: {row: fields}."""
    out: dict[int, tuple] = {}
    index = {k: i for i, k in enumerate(keys)}
    for r in rows:
        fields = data[starts[r]:ends[r]].tobytes().decode(errors="replace").split(",")
        if len(fields) != 4 or (wanted is not None and fields[2] not in index):
            continue
        try:
            parsed = (int(fields[0]), float(fields[1]), float(fields[3]))
        except (ValueError, OverflowError):
            continue
        if fields[2] not in index:
            index[fields[2]] = len(keys)
            keys.append(fields[2])
        out[int(r)] = (index[fields[2]], *parsed)
    return out


_CHUNK = 65536        # rows per vector pass: temporaries stay in cache
_local = threading.local()  # one reused read buffer per thread
_KEEP = 64 << 20      # larger reads get their own buffer, freed after


def _buffer(size: int) -> np.ndarray:
    """A read buffer of `size` bytes plus W bytes of zero padding in front; reused up to
    _KEEP bytes (why: a fresh 10 MB array costs more in page faults than parsing it does)."""
    if size + W > _KEEP:
        out = np.empty(size + W, dtype=np.uint8)
    else:
        scratch = getattr(_local, "scratch", np.empty(0, dtype=np.uint8))
        if len(scratch) < size + W:
            scratch = np.empty(min(_KEEP, max(size + W, 2 * len(scratch))), dtype=np.uint8)
            _local.scratch = scratch
        out = scratch[:size + W]
    out[:W] = 0
    return out


def _empty(keys: list[str]) -> Rows:
    return Rows(keys, np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0), np.empty(0))


_COMMAS = _U(0x2C2C2C2C2C2C2C2C)
_LOW7 = _U(0x7F7F7F7F7F7F7F7F)


def _zero_flags(x: np.ndarray) -> np.ndarray:
    """0x80 in exactly the bytes of x that are zero (no false positives)."""
    return ~((((x & _LOW7) + _LOW7) | x) | _LOW7)


def _last_comma(words: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of the last comma in the 16 bytes before `end`: (position, found)."""
    f_hi = _zero_flags(words[end] ^ _COMMAS)
    f_lo = _zero_flags(words[end + 8] ^ _COMMAS)
    in_lo = f_lo != 0
    flags = np.where(in_lo, f_lo, f_hi)
    _, exponent = np.frexp(flags.astype(np.float64))   # highest set bit + 1
    byte = (exponent.astype(np.int64) - 8) // 8
    return end - W + np.where(in_lo, 8 + byte, byte), in_lo | (f_hi != 0)


def _first_comma(words: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of the first comma in the 16 bytes from `start`: (position, found)."""
    last = len(words) - 1              # a short last line: its second word would overrun
    in_a, d_a = _first_zero_byte(words[np.minimum(start + W, last)] ^ _COMMAS)
    in_b, d_b = _first_zero_byte(words[np.minimum(start + W + 8, last)] ^ _COMMAS)
    in_a &= start + W <= last
    in_b &= start + W + 8 <= last
    return start + np.where(in_a, d_a, 8 + d_b).astype(np.int64), in_a | in_b


def _parse_wanted(pbuf: np.ndarray, wanted: list[str]) -> Rows | None:
    """The rows of a few keys of 8 to 16 bytes, finding only what those rows need.

    Why: splitting every line at its three commas costs more than parsing the wanted rows.
    Per line only the newline and the last comma (before the value) are located; the key is
    matched on the 8 bytes before that comma; the other commas are found on matching rows.
    """
    buf = pbuf[W:]
    ends = np.flatnonzero(buf <= 34)          # newlines; also quotes, spaces, controls
    kinds = buf[ends]
    if not (kinds == 10).all():
        if (kinds == 34).any():
            return None                       # quoted fields: real CSV
        ends = ends[kinds == 10]
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    words = np.ndarray(shape=(len(pbuf) - 7,), dtype="<u8", buffer=pbuf, strides=(1,))
    c2, found = _last_comma(words, ends)
    c2 = np.where(found, c2, ends)
    last8 = words[c2 + 8]
    raws = [k.encode() for k in wanted]
    tail = np.array([int.from_bytes(raw[-8:], "little") for raw in raws], np.uint64)
    head = np.array([int.from_bytes((bytes(W - len(raw)) + raw)[:8], "little") for raw in raws],
                    np.uint64)
    keep = _TOP[[len(raw) - 8 for raw in raws]]
    sizes = np.array([len(raw) for raw in raws])
    order = np.argsort(tail)
    pos = np.minimum(np.searchsorted(tail[order], last8), len(raws) - 1)
    cand = np.flatnonzero((tail[order][pos] == last8) & found)
    which = order[pos[cand]]
    c1 = c2[cand] - sizes[which] - 1
    ok = (pbuf[c1 + W] == 44) & ((words[c2[cand]] & keep[which]) == (head[which] & keep[which]))
    rows, which, c1 = cand[ok], which[ok], c1[ok]
    c0, ok0 = _first_comma(words, starts[rows])
    step, sok = _uint(words, starts[rows], c0)
    time, tok = _clock(words, pbuf, c0 + 1, c1)
    value, vok = _numbers(words, pbuf, c2[rows] + 1, ends[rows])
    good = ok0 & (c0 < c1) & sok & tok & vok & (step < _U(1 << 62))
    code = which.astype(np.int32)
    step = step.astype(np.int64)
    retry = np.concatenate([rows[~good], np.flatnonzero(~found)])
    if retry.size:  # Python reads these lines (a value over 15 characters, nan, ...)
        fixed = _slow_rows(buf, starts, ends, np.sort(retry), list(wanted), wanted)
        keep_rows = np.flatnonzero(good)
        extra = sorted(fixed.items())
        code = np.concatenate([code[keep_rows], np.array([f[0] for _, f in extra], np.int32)])
        step = np.concatenate([step[keep_rows], np.array([f[1] for _, f in extra], np.int64)])
        time = np.concatenate([time[keep_rows], np.array([f[2] for _, f in extra], np.float64)])
        value = np.concatenate([value[keep_rows], np.array([f[3] for _, f in extra])])
        line = np.concatenate([rows[keep_rows], np.array([r for r, _ in extra], np.int64)])
        order_rows = np.argsort(line, kind="stable")       # back to file order
        code, step, time, value = (code[order_rows], step[order_rows], time[order_rows],
                                   value[order_rows])
    return Rows(list(wanted), code, step, time, value)


def parse_buffer(pbuf: np.ndarray, wanted: list[str] | None = None) -> Rows | None:
    """Parse `pbuf[W:]`, whole lines ending in a newline; None if it is not plain CSV.

    With `wanted`, only rows of those keys are parsed (and `keys == wanted`).
    """
    buf = pbuf[W:]
    if not len(buf):
        return _empty(list(wanted or []))
    if buf[-1] != 10:
        return None
    if wanted and all(8 <= len(k.encode()) <= W for k in wanted):
        return _parse_wanted(pbuf, wanted)
    # One pass finds newlines and commas together: both sort below every other byte but
    # space, '!', '"', '#'...'+', which are filtered out (and a quote means real CSV).
    seps = np.flatnonzero(buf <= 44)
    kinds = buf[seps]
    # the usual case, checked in one pass: every line is `,` `,` `,` `\n` (0x0A2C2C2C)
    if len(kinds) % 4 or not (kinds.view("<u4") == 0x0A2C2C2C).all():
        if (kinds == 34).any():
            return None
        plain = (kinds == 10) | (kinds == 44)
        seps, kinds = seps[plain], kinds[plain]
        if len(kinds) % 4 or not (kinds.view("<u4") == 0x0A2C2C2C).all():
            return None
    table = seps.reshape(-1, 4)
    ends = table[:, 3]
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    words = np.ndarray(shape=(len(pbuf) - 7,), dtype="<u8", buffer=pbuf, strides=(1,))

    keys, code = _key_codes(words, table[:, 1] + 1, table[:, 2], buf, wanted)
    if wanted is None:
        rows = np.arange(len(ends))
    else:
        rows = np.flatnonzero(code >= 0)
        if any(len(k.encode()) > W for k in wanted):  # long keys: Python compares them
            klen = table[:, 2] - table[:, 1] - 1
            rows = np.union1d(rows, np.flatnonzero(klen > W))
    n = len(rows)
    step = np.empty(n, np.int64)
    time = np.empty(n)
    value = np.empty(n)
    ok = np.empty(n, bool)
    for a in range(0, n, _CHUNK):
        r = rows[a:a + _CHUNK]
        t = table[r]
        s = starts[r]
        smant, sok = _uint(words, s, t[:, 0])
        tv, tok = _clock(words, pbuf, t[:, 0] + 1, t[:, 1])
        vv, vok = _numbers(words, pbuf, t[:, 2] + 1, t[:, 3])
        step[a:a + _CHUNK] = smant
        time[a:a + _CHUNK] = tv
        value[a:a + _CHUNK] = vv
        ok[a:a + _CHUNK] = sok & tok & vok & (smant < _U(1 << 62)) & (code[r] >= 0)
    code = code[rows]
    bad = np.flatnonzero(~ok)
    if bad.size:
        fixed = _slow_rows(buf, starts[rows], ends[rows], bad, keys, wanted)
        for i, (c, st, tm, vl) in fixed.items():
            code[i], step[i], time[i], value[i], ok[i] = c, st, tm, vl, True
        keep = np.flatnonzero(ok)
        code, step, time, value = code[keep], step[keep], time[keep], value[keep]
    return Rows(keys, code, step, time, value)


def parse_rows(data: bytes, wanted: list[str] | None = None) -> Rows | None:
    """Parse whole lines of `data` (it must end with a newline); None if not plain CSV."""
    pbuf = _buffer(len(data))
    pbuf[W:] = np.frombuffer(data, dtype=np.uint8)
    return parse_buffer(pbuf, wanted)


def read_rows(path: str | Path, offset: int = 0,
              wanted: list[str] | None = None) -> tuple[Rows | None, int]:
    """Whole lines of a metrics file from byte `offset` on, and the offset after them.

    Returns (None, offset) when the block is not plain CSV: read it with read_metrics.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= offset:
            return _empty(list(wanted or [])), offset
        fh.seek(offset)
        pbuf = _buffer(size - offset)
        got = fh.readinto(memoryview(pbuf)[W:])
    pbuf = pbuf[:W + got]
    body = memoryview(pbuf)[W:]
    tail = max(0, got - 65536)
    cut = body[tail:].tobytes().rfind(b"\n")
    cut = tail + cut + 1 if cut >= 0 else body.tobytes().rfind(b"\n") + 1
    if cut <= 0:
        return _empty(list(wanted or [])), offset
    return parse_buffer(pbuf[:W + cut], wanted), offset + cut
