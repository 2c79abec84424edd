#!/usr/bin/env python3
"""Identifiers with a `/` in a path, through matrix-nio's own path building.

Usage: nio_slashes.py BASE_URL USER_ID ACCESS_TOKEN ROOM_ID

matrix-nio percent-encodes every path segment, `/` included (`%2F`). This
flow sends what real clients send with such segments:

1. A state event whose state key holds a `/`, with nio's `room_put_state`,
   read back with `room_get_state_event`.
2. Megolm key backup (m.megolm_backup.v1.curve25519-aes-sha2) with real
   Megolm sessions and backup encryption from vodozemac: new sessions are
   made until one's id holds a `/` (unpadded base64: about half of them
   do); that one and one without are backed up with
   `PUT /room_keys/keys/{roomId}/{sessionId}`, restored with `GET` (the
   restored key decrypts a message of the session), and deleted with
   `DELETE`, after which `GET` answers 404. matrix-nio has no key-backup
   calls of its own; the paths are built by its `Api._build_path`, as every
   nio call's are, and sent by its client.

Exits 0 only if every step worked. The last line on stdout is a JSON summary:
{"client": "matrix-nio", "ok": ..., "steps": [...], "sessions": [...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import version

import vodozemac
from nio import AsyncClient, RoomGetStateEventResponse, RoomPutStateResponse
from nio.api import Api

BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
MAX_SESSIONS = 200


class FlowError(Exception):
    pass


class Flow:
    def __init__(self, base: str, user: str, token: str, room: str) -> None:
        self.client = AsyncClient(base.rstrip("/"), user)
        self.client.access_token = token
        self.client.user_id = user
        self.token = token
        self.room = room
        self.steps: list[str] = []
        self.sessions: list[dict] = []

    def step(self, name: str) -> None:
        self.steps.append(name)

    async def json_call(self, method: str, segments: list[str], query: dict, body=None):
        query = {"access_token": self.token, **query}
        path = Api._build_path(segments, query)
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = await self.client.send(method, path, data, headers=headers)
        text = await response.text()
        return response.status, (json.loads(text) if text else None), path

    async def state_key_with_slash(self) -> None:
        content = {"ward": "7/B"}
        put = await self.client.room_put_state(self.room, "org.sectorgate.test.ward", content, state_key="ward/7")
        if not isinstance(put, RoomPutStateResponse):
            raise FlowError(f"room_put_state: {put}")
        self.step("state event with / in its state key sent")
        got = await self.client.room_get_state_event(self.room, "org.sectorgate.test.ward", "ward/7")
        if not isinstance(got, RoomGetStateEventResponse) or got.content != content:
            raise FlowError(f"room_get_state_event: {got}")
        self.step("state event with / in its state key read back")

    async def backup(self) -> None:
        backup_key = vodozemac.PkDecryption()
        status, body, _ = await self.json_call(
            "POST",
            ["room_keys", "version"],
            {},
            {"algorithm": BACKUP_ALGORITHM, "auth_data": {"public_key": backup_key.public_key.to_base64()}},
        )
        if status != 200:
            raise FlowError(f"create backup version: {status} {body}")
        backup_version = body["version"]
        self.step("backup version created")
        for session, message in sessions_to_back_up():
            await self.round_trip(backup_key, backup_version, session, message)

    async def round_trip(self, backup_key, backup_version: str, session, message) -> None:
        session_id = session.session_id
        record = {"session_id": session_id, "slash": "/" in session_id}
        self.sessions.append(record)
        segments = ["room_keys", "keys", self.room, session_id]
        query = {"version": backup_version}
        exported = vodozemac.InboundGroupSession(session.key).export_at(0).to_base64()
        sealed = vodozemac.PkEncryption.from_key(backup_key.public_key).encrypt(
            json.dumps({"algorithm": "m.megolm.v1.aes-sha2", "session_key": exported,
                        "sender_claimed_keys": {}, "forwarding_curve25519_key_chain": []}).encode()
        )
        ephemeral, mac, ciphertext = sealed.to_base64()
        key_data = {
            "first_message_index": 0,
            "forwarded_count": 0,
            "is_verified": False,
            "session_data": {"ephemeral": ephemeral, "mac": mac, "ciphertext": ciphertext},
        }
        status, body, path = await self.json_call("PUT", segments, query, key_data)
        record["path"] = path.split("?")[0]
        if status != 200:
            raise FlowError(f"backup of session {session_id}: {status} {body}")
        status, restored, _ = await self.json_call("GET", segments, query)
        if status != 200:
            raise FlowError(f"restore of session {session_id}: {status} {restored}")
        data = restored["session_data"]
        opened = backup_key.decrypt(vodozemac.Message.from_base64(data["ciphertext"], data["mac"], data["ephemeral"]))
        key = json.loads(opened)["session_key"]
        inbound = vodozemac.InboundGroupSession.import_session(vodozemac.ExportedSessionKey(key))
        if inbound.decrypt(message).plaintext != b"ward round at nine":
            raise FlowError(f"the restored key of {session_id} does not decrypt its message")
        record["restored"] = True
        status, body, _ = await self.json_call("DELETE", segments, query)
        if status != 200:
            raise FlowError(f"delete of session {session_id}: {status} {body}")
        status, body, _ = await self.json_call("GET", segments, query)
        if status != 404:
            raise FlowError(f"session {session_id} still backed up after delete: {status} {body}")
        record["deleted"] = True
        self.step(f"session {'with' if record['slash'] else 'without'} / backed up, restored, deleted")


class Session:
    """A Megolm session as a client makes one: its key before any message."""

    def __init__(self) -> None:
        self.outbound = vodozemac.GroupSession()
        self.key = self.outbound.session_key
        self.session_id = self.outbound.session_id


def sessions_to_back_up():
    """One session whose id has a `/` and one whose id has none, each with a message."""
    wanted = {True: None, False: None}
    for _ in range(MAX_SESSIONS):
        session = Session()
        slash = "/" in session.session_id
        if wanted[slash] is None:
            wanted[slash] = (session, session.outbound.encrypt(b"ward round at nine"))
        if all(wanted.values()):
            break
    if not all(wanted.values()):
        raise FlowError(f"no session id with and without / in {MAX_SESSIONS} sessions")
    return [wanted[True], wanted[False]]


async def main() -> int:
    base, user, token, room = sys.argv[1:5]
    flow = Flow(base, user, token, room)
    error = None
    try:
        await flow.state_key_with_slash()
        await flow.backup()
    except FlowError as failure:
        error = str(failure)
    finally:
        await flow.client.close()
    summary = {"client": "matrix-nio", "version": version("matrix-nio"), "ok": error is None,
               "error": error, "steps": flow.steps, "sessions": flow.sessions}
    print(json.dumps(summary))
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
