"""An independent check of a log exported as C2SP tlog-tiles.

Written from the C2SP specifications (tlog-tiles, tlog-checkpoint,
signed-note) and RFC 6962, sharing no code with the gateway:

    verify_tiles.py VKEY DIR [DIR ...]

For each DIR (an export: `checkpoint`, `tile/<L>/...`, `tile/entries/...`,
or the URL the same files are served under, fetched as a tlog-tiles client):
the checkpoint's Ed25519 signature under the verifier key VKEY; every
level-0 tile against the entries (leaf hash = SHA-256(0x00 || entry)),
where the entry bundle is there (an absent one holds pruned records: its
hashes are checked by the levels above); every tile of a higher level against the tiles below it; the tree's root
against the checkpoint. Then, for the exports in order of size, that each
smaller tree is a prefix of the larger one: the same leaves, and the root
of the larger one's first leaves is the smaller one's checkpoint root.
Prints a JSON summary; exits 1 with the reason on the first failure.
"""

import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

WIDTH = 256
HEIGHT = 8


class Failed(Exception):
    pass


def sha256(data):
    return hashlib.sha256(data).digest()


def node(left, right):
    return sha256(b"\x01" + left + right)


def mth(leaves):
    """RFC 6962 Merkle tree hash of a list of leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node(mth(leaves[:split]), mth(leaves[split:]))


def parse_vkey(vkey):
    name, key_id, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    if raw[0] != 1 or len(raw) != 33:
        raise Failed("the verifier key is not an Ed25519 key")
    expected = sha256(name.encode() + b"\n" + raw)[:4]
    if expected.hex() != key_id:
        raise Failed("the verifier key's id does not match its key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def check_checkpoint(text, vkey):
    """The checkpoint's origin, size and root, once its signature holds."""
    name, key_id, key = parse_vkey(vkey)
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        raise Failed("the checkpoint is not a signed note")
    body += "\n"
    signed = False
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise Failed(f"not a signature line: {line!r}")
        signer, blob = line[2:].rsplit(" ", 1)
        raw = base64.b64decode(blob)
        if signer != name or raw[:4] != key_id:
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature:
            raise Failed("the checkpoint's signature does not hold")
        signed = True
    if not signed:
        raise Failed("the checkpoint is not signed by the verifier key")
    lines = body.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def tile_path(kind, n, width):
    digits = str(n)
    digits = "0" * ((3 - len(digits) % 3) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join(["tile", kind] + ["x" + g for g in groups[:-1]] + [groups[-1]])
    return path + (f".p/{width}" if width < WIDTH else "")


def read(directory, path, optional=False):
    """A file of the export; with optional, None if it is absent (404)."""
    if directory.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{directory}/{path}", timeout=10) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if optional and error.code == 404:
                return None
            raise Failed(f"{path}: HTTP {error.code}")
    try:
        with open(os.path.join(directory, path), "rb") as f:
            return f.read()
    except FileNotFoundError:
        if optional:
            return None
        raise Failed(f"{path} is missing")


def hashes_of(data, width, path):
    if len(data) != 32 * width:
        raise Failed(f"{path} holds {len(data)} bytes, not {width} hashes")
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def check_export(directory, vkey):
    origin, size, root = check_checkpoint(read(directory, "checkpoint").decode(), vkey)
    leaves = []
    bundles = 0
    pruned = 0
    for n in range((size + WIDTH - 1) // WIDTH):
        width = min(WIDTH, size - n * WIDTH)
        path = tile_path("0", n, width)
        tile = hashes_of(read(directory, path), width, path)
        entries_path = tile_path("entries", n, width)
        bundle = read(directory, entries_path, optional=True)
        leaves.extend(tile)
        if bundle is None:
            # Pruned: the hashes stay and are checked with the levels above.
            pruned += 1
            continue
        at = 0
        for index in range(width):
            if at + 2 > len(bundle):
                raise Failed(f"{entries_path} ends before entry {index}")
            length = int.from_bytes(bundle[at : at + 2], "big")
            entry = bundle[at + 2 : at + 2 + length]
            at += 2 + length
            if len(entry) != length:
                raise Failed(f"{entries_path}: entry {index} is cut short")
            if sha256(b"\x00" + entry) != tile[index]:
                raise Failed(f"{path}: hash {index} is not its entry's leaf hash")
        if at != len(bundle):
            raise Failed(f"{entries_path} holds more than {width} entries")
        bundles += 1
    below = leaves
    tiles = (size + WIDTH - 1) // WIDTH
    level = 1
    while size >> (HEIGHT * level):
        nodes = size >> (HEIGHT * level)
        level_hashes = []
        for n in range((nodes + WIDTH - 1) // WIDTH):
            width = min(WIDTH, nodes - n * WIDTH)
            path = tile_path(str(level), n, width)
            tile = hashes_of(read(directory, path), width, path)
            for index, got in enumerate(tile):
                k = n * WIDTH + index
                if mth(below[k * WIDTH : (k + 1) * WIDTH]) != got:
                    raise Failed(f"{path}: hash {index} is not the root of the tiles below it")
            level_hashes.extend(tile)
            tiles += 1
        below = level_hashes
        level += 1
    if mth(leaves) != root:
        raise Failed(f"{directory}: the tiles' root is not the checkpoint's")
    return {"origin": origin, "size": size, "root": root, "leaves": leaves, "hash_tiles": tiles, "entry_bundles": bundles, "pruned_bundles": pruned}


def main():
    vkey, directories = sys.argv[1], sys.argv[2:]
    try:
        exports = sorted((check_export(d, vkey) for d in directories), key=lambda e: e["size"])
        for smaller, larger in zip(exports, exports[1:]):
            if smaller["origin"] != larger["origin"]:
                raise Failed("the exports are of different logs")
            if larger["leaves"][: smaller["size"]] != smaller["leaves"]:
                raise Failed(f"the tree of {larger['size']} does not begin with the tree of {smaller['size']}")
            if mth(larger["leaves"][: smaller["size"]]) != smaller["root"]:
                raise Failed(f"the checkpoints of {smaller['size']} and {larger['size']} are not consistent")
    except Failed as failure:
        print(json.dumps({"ok": False, "reason": str(failure)}))
        sys.exit(1)
    summary = [{k: e[k] for k in ("size", "hash_tiles", "entry_bundles", "pruned_bundles")} for e in exports]
    print(json.dumps({"ok": True, "exports": summary, "consistent": len(exports) > 1}))


if __name__ == "__main__":
    main()
