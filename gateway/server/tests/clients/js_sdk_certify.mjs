#!/usr/bin/env node
// matrix-js-sdk following the conformance suite's guided client-certification
// steps that it can take without its crypto module: log in, create an
// encrypted direct chat with PEER, set the invite permissions (SETTING_TYPE,
// gematik format) to block all but PEER, invite BLOCKER (refused; not
// retried). It sends no messages: without crypto, the SDK will not send into
// an encrypted room.
//
// Usage: node js_sdk_certify.mjs BASE_URL USER_ID PASSWORD PEER BLOCKER SETTING_TYPE
//
// The last line on stdout is a JSON summary: {"client": "matrix-js-sdk", "ok": ..., "steps": [...]}.

import { readFileSync } from "node:fs";

const STEP_TIMEOUT_MS = 30_000;

for (const method of ["log", "info", "debug", "trace"]) {
    console[method] = () => {};
}
const sdk = await import("matrix-js-sdk");
const sdkVersion = JSON.parse(
    readFileSync(new URL("./node_modules/matrix-js-sdk/package.json", import.meta.url), "utf8"),
).version;

const steps = [];
const summary = {};

function done(name, detail = "") {
    steps.push(name);
    process.stderr.write(`js_sdk_certify: ok ${name}${detail ? ": " + detail : ""}\n`);
}

function bounded(name, promise) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name}: no answer within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function run(baseUrl, userId, password, peer, blocker, settingType) {
    const client = sdk.createClient({ baseUrl });
    const login = await bounded("login", client.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password,
    }));
    const session = sdk.createClient({ baseUrl, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id });
    done("login", login.user_id);

    const created = await bounded("create_direct_chat", session.createRoom({
        is_direct: true,
        preset: "trusted_private_chat",
        invite: [peer],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    }));
    summary.room_id = created.room_id;
    done("create_direct_chat", created.room_id);

    await bounded("set_invite_permissions",
        session.setAccountDataRaw(settingType, { defaultSetting: "block all", userExceptions: { [peer]: {} } }));
    done("set_invite_permissions");

    try {
        await bounded("invite_refused", session.invite(created.room_id, blocker));
        summary.invite_refused = { refused: false };
    } catch (error) {
        summary.invite_refused = { refused: true, errcode: error.errcode, status: error.httpStatus };
    }
    done("invite_refused", JSON.stringify(summary.invite_refused));
    session.stopClient();
}

const args = process.argv.slice(2);
let error = null;
if (args.length !== 6) {
    error = "usage: js_sdk_certify.mjs BASE_URL USER_ID PASSWORD PEER BLOCKER SETTING_TYPE";
} else {
    try {
        await run(...args);
    } catch (e) {
        error = `${e.name}: ${e.message}`;
    }
}
if (error) {
    process.stderr.write(`js_sdk_certify: FAILED: ${error}\n`);
}
process.stdout.write(JSON.stringify({ client: "matrix-js-sdk", version: sdkVersion, ok: error === null, steps, ...summary, ...(error ? { error } : {}) }) + "\n");
process.exit(error === null ? 0 : 1);
