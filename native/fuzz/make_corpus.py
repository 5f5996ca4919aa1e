#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (native/fuzz/corpus/).

Valid inputs per the layouts in native/blob.h and native/lease_message.h,
plus a few near misses. Deterministic: rerunning rewrites the same files.
Usage: python3 native/fuzz/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def blob(tenant: bytes, service: bytes, version: int, fill: int) -> bytes:
    header = b"K4\x01\x01" + bytes([len(tenant)]) + tenant + bytes([len(service)]) + service
    header += struct.pack(">I", version)
    nonce = bytes((fill + i) & 0xFF for i in range(24))
    wrapped = bytes((fill * 3 + i) & 0xFF for i in range(32))
    tag = bytes((fill * 7 + i) & 0xFF for i in range(16))
    out = header + nonce + wrapped + tag
    assert len(out) == 82 + len(tenant) + len(service)
    return out


def lease(tenant: bytes, service: bytes, version: int, state: int, expires_ms: int, fill: int) -> bytes:
    out = b"KL\x01" + bytes([len(tenant)]) + tenant + bytes([len(service)]) + service
    out += struct.pack(">IBQ", version, state, expires_ms)
    out += bytes((fill + 5 * i) & 0xFF for i in range(32))
    assert len(out) == 50 + len(tenant) + len(service)
    return out


def write(kind: str, name: str, data: bytes) -> None:
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main() -> None:
    max_id = b"A" * 32 + b"z" * 16 + b"0._~-" * 3 + b"9"  # 64 bytes
    assert len(max_id) == 64
    write("blob", "valid-small", blob(b"t", b"s", 1, 1))
    write("blob", "valid-typical", blob(b"acme-corp", b"billing.v2", 7, 2))
    write("blob", "valid-max", blob(max_id, max_id, 0xFFFFFFFF, 3))
    write("blob", "valid-alphabet", blob(b"Tenant_01~x", b"svc-A.b", 0x01020304, 4))
    write("blob", "bad-version-zero", blob(b"acme", b"svc", 0, 5))
    write("blob", "bad-trailing", blob(b"acme", b"svc", 1, 6) + b"\x00")
    write("blob", "bad-truncated", blob(b"acme", b"svc", 1, 7)[:-1])

    now_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    write("lease", "valid-active", lease(b"acme-corp", b"billing.v2", 3, 1, now_ms, 1))
    write("lease", "valid-decrypt-only", lease(b"t", b"s", 1, 2, now_ms + 60_000, 2))
    write("lease", "valid-max", lease(max_id, max_id, 0xFFFFFFFF, 1, 0xFFFFFFFFFFFFFFFF, 3))
    write("lease", "bad-revoked", lease(b"acme", b"svc", 2, 3, now_ms, 4))
    write("lease", "bad-trailing", lease(b"acme", b"svc", 2, 1, now_ms, 5) + b"\x00")


if __name__ == "__main__":
    main()
