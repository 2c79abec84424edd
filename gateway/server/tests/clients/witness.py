"""A transparency-log witness, written from the C2SP specifications
(tlog-witness, tlog-cosignature, tlog-checkpoint, signed-note) and RFC 9162's
consistency proof check, sharing no code with the gateway:

    witness.py vkey SEED NAME
        prints the verifier key of the witness NAME whose Ed25519 key is the
        32-byte seed in the file SEED (hex)
    witness.py serve SEED NAME LOG_VKEY STATE PORT_FILE
        serves POST /add-checkpoint on 127.0.0.1 (its port written to
        PORT_FILE) for the one log whose checkpoints LOG_VKEY signs, keeping
        the latest cosigned checkpoint in the JSON file STATE (and a line
        per 409 answered in STATE.conflicts)

A checkpoint is cosigned only if the log's signature verifies (else 403; a
log it does not know: 404), the old size is the size it last cosigned (else
409 with that size, text/x.tlog.size), and the consistency proof from its
last root to the new one holds (else 422).
"""

import base64
import hashlib
import http.server
import json
import os
import sys
import threading
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

COSIGNATURE_V1 = b"\x04"
SIGNED_NOTE_ED25519 = b"\x01"


def sha256(data):
    return hashlib.sha256(data).digest()


def key_id(name, typed_key):
    return sha256(name.encode() + b"\n" + typed_key)[:4]


def witness_key(seed_file):
    with open(seed_file) as f:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(f.read().strip()))


def witness_vkey(key, name):
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    typed = COSIGNATURE_V1 + raw
    return f"{name}+{key_id(name, typed).hex()}+{base64.b64encode(typed).decode()}"


def parse_log_vkey(vkey):
    name, hex_id, encoded = vkey.split("+", 2)
    typed = base64.b64decode(encoded)
    if typed[:1] != SIGNED_NOTE_ED25519 or len(typed) != 33:
        raise ValueError("not an Ed25519 signed-note key")
    if key_id(name, typed).hex() != hex_id:
        raise ValueError("the key id is not the key's")
    return name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(typed[1:])


def node(left, right):
    return sha256(b"\x01" + left + right)


def consistent(first, second, first_hash, second_hash, proof):
    """RFC 9162, 2.1.4.2: the proof that the tree of `first` leaves is a
    prefix of the tree of `second`."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not (fn & 1) and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


class Witness:
    def __init__(self, key, name, log_vkey, state_file):
        self.key = key
        self.name = name
        self.log_name, self.log_id, self.log_key = parse_log_vkey(log_vkey)
        self.state_file = state_file
        self.lock = threading.Lock()
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.id = key_id(name, COSIGNATURE_V1 + raw)

    def state(self):
        try:
            with open(self.state_file) as f:
                saved = json.load(f)
            return saved["size"], base64.b64decode(saved["root"])
        except FileNotFoundError:
            return 0, None

    def save(self, size, root):
        temporary = self.state_file + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"size": size, "root": base64.b64encode(root).decode()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, self.state_file)

    def add_checkpoint(self, body):
        """(status, content type, answer) for an add-checkpoint body."""
        try:
            head, note = body.split("\n\n", 1)
            lines = head.split("\n")
            if not lines[0].startswith("old "):
                return 400, "text/plain", "no old size line\n"
            old = int(lines[0][4:])
            proof = [base64.b64decode(line) for line in lines[1:]]
            text, signatures = note.split("\n\n", 1)
            text += "\n"
            origin, size, root = text.split("\n")[:3]
            size, root = int(size), base64.b64decode(root)
        except (ValueError, IndexError):
            return 400, "text/plain", "malformed request\n"
        if origin != self.log_name:
            return 404, "text/plain", "unknown log\n"
        if not self.log_signed(text, signatures):
            return 403, "text/plain", "no valid signature of the log\n"
        if old > size:
            return 400, "text/plain", "old size above the checkpoint's\n"
        with self.lock:
            known_size, known_root = self.state()
            if old != known_size:
                self.conflict(old, known_size)
                return 409, "text/x.tlog.size", f"{known_size}\n"
            if old == size and known_root is not None and root != known_root:
                return 409, "text/x.tlog.size", f"{known_size}\n"
            if old > 0 and not consistent(old, size, known_root, root, proof):
                return 422, "text/plain", "the consistency proof does not hold\n"
            if old == 0 and proof:
                return 422, "text/plain", "a proof from size 0\n"
            self.save(size, root)
        return 200, "text/plain", self.cosign(text)

    def conflict(self, old, known_size):
        """Notes a 409 (old size not the one it knows) in STATE_FILE.conflicts."""
        with open(self.state_file + ".conflicts", "a") as f:
            f.write(f"old {old} known {known_size}\n")

    def log_signed(self, text, signatures):
        for line in signatures.split("\n"):
            if not line.startswith("\u2014 "):
                continue
            name, encoded = line[2:].rsplit(" ", 1)
            signature = base64.b64decode(encoded)
            if name != self.log_name or signature[:4] != self.log_id:
                continue
            try:
                self.log_key.verify(signature[4:], text.encode())
                return True
            except InvalidSignature:
                return False
        return False

    def cosign(self, text):
        now = int(time.time())
        message = f"cosignature/v1\ntime {now}\n".encode() + text.encode()
        signature = self.id + now.to_bytes(8, "big") + self.key.sign(message)
        return f"\u2014 {self.name} {base64.b64encode(signature).decode()}\n"


def serve(witness, port_file):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path.rstrip("/").split("/")[-1] != "add-checkpoint":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8", "replace")
            status, kind, answer = witness.add_checkpoint(body)
            data = answer.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("WITNESS_PORT", "0"))), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


def main():
    command = sys.argv[1]
    if command == "vkey":
        print(witness_vkey(witness_key(sys.argv[2]), sys.argv[3]))
    elif command == "serve":
        seed, name, log_vkey, state, port_file = sys.argv[2:7]
        serve(Witness(witness_key(seed), name, log_vkey, state), port_file)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
