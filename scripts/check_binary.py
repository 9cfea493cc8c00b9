#!/usr/bin/env python3
"""Checks that an executable runs on the server image (Debian 12, x86_64).

    scripts/check_binary.py BINARY [--max-glibc 2.36]

It must be a 64-bit little-endian x86-64 ELF executable, and either static or, when
dynamically linked, ask for no glibc symbol version newer than --max-glibc (Debian 12 has
2.36). Reads the ELF headers itself, so it works where readelf is missing (macOS).
Prints one line and exits 0 when the binary fits, 1 with the reason when it does not.
"""
import argparse
import re
import struct
import sys

EM_X86_64 = 62
PT_INTERP = 3
PT_DYNAMIC = 2
SHT_GNU_VERNEED = 0x6FFFFFFE


def parse_version(text):
    return tuple(int(p) for p in text.split("."))


def show(version):
    return ".".join(str(p) for p in version)


def needed_glibc(data, shoff, shentsize, shnum):
    """Every GLIBC_x.y version the binary's version-needs section asks for."""
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        (_name, typ, _flags, _addr, offset, size, link, info, _align, _entsize) = struct.unpack_from(
            "<IIQQQQIIQQ", data, off
        )
        sections.append((typ, offset, size, link, info))
    versions = set()
    for typ, offset, _size, link, count in sections:
        if typ != SHT_GNU_VERNEED:
            continue
        strtab = sections[link][1]
        entry = offset
        for _ in range(count):
            (_ver, aux_count, _file, aux, nxt) = struct.unpack_from("<HHIII", data, entry)
            a = entry + aux
            for _ in range(aux_count):
                (_hash, _flags, _other, name, anext) = struct.unpack_from("<IHHII", data, a)
                end = data.index(b"\0", strtab + name)
                label = data[strtab + name : end].decode("ascii", "replace")
                m = re.fullmatch(r"GLIBC_([0-9]+(?:\.[0-9]+)+)", label)
                if m:
                    versions.add(parse_version(m.group(1)))
                if anext == 0:
                    break
                a += anext
            if nxt == 0:
                break
            entry += nxt
    return versions


def check(path, max_glibc):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return False, f"cannot read {path}: {e.strerror}"
    if data[:4] != b"\x7fELF":
        return False, f"{path} is not a Linux (ELF) executable; build it for x86_64-unknown-linux-gnu"
    if data[4] != 2 or data[5] != 1:
        return False, f"{path} is not a 64-bit little-endian ELF file"
    (e_type, e_machine) = struct.unpack_from("<HH", data, 16)
    if e_machine != EM_X86_64:
        return False, f"{path} is built for ELF machine {e_machine}, not x86-64 (62): the server is x86_64"
    if e_type not in (2, 3):
        return False, f"{path} is not an executable (ELF type {e_type})"
    (phoff, shoff) = struct.unpack_from("<QQ", data, 32)
    (phentsize, phnum, shentsize, shnum) = struct.unpack_from("<HHHH", data, 54)
    kinds = {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}
    if PT_INTERP not in kinds and PT_DYNAMIC not in kinds:
        return True, f"{path}: static x86-64 executable, runs on any x86_64 Linux"
    versions = needed_glibc(data, shoff, shentsize, shnum)
    if not versions:
        return True, f"{path}: dynamic x86-64 executable asking for no versioned glibc symbol"
    newest = max(versions)
    if newest > max_glibc:
        return False, (
            f"{path} needs glibc {show(newest)} but the server has {show(max_glibc)}: "
            "build it with scripts/build-release.sh (cargo zigbuild for glibc "
            f"{show(max_glibc)})"
        )
    return True, f"{path}: x86-64 executable needing glibc {show(newest)} at most (the server has {show(max_glibc)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--max-glibc", default="2.36", help="newest glibc on the server (default 2.36, Debian 12)")
    args = parser.parse_args()
    try:
        max_glibc = parse_version(args.max_glibc)
    except ValueError:
        parser.error(f"--max-glibc {args.max_glibc} is not a version such as 2.36")
    try:
        ok, message = check(args.binary, max_glibc)
    except (struct.error, ValueError, IndexError):
        ok, message = False, f"{args.binary} is a damaged ELF file"
    print(("ok: " if ok else "error: ") + message, file=sys.stdout if ok else sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
