//! Witness keys and cosignatures (C2SP tlog-cosignature) as this crate
//! reads them, and the consistency proof it sends a witness, checked
//! against the roots of two checkpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use tlog_tiles::{Hash, check_tree};

use crate::tests::encoding::decision;
use crate::tests::fixture::open;
use crate::{WitnessKey, add_checkpoint_body, cosigned_by, take_cosignatures};

/// A witness `name` with a fixed key: its signing key and verifier key.
fn witness(name: &str, seed: u8) -> (SigningKey, String) {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    let mut typed = vec![0x04];
    typed.extend_from_slice(signing.verifying_key().as_bytes());
    let id = signed_note::key_id(name, &typed);
    (
        signing,
        format!("{name}+{id:08x}+{}", STANDARD.encode(&typed)),
    )
}

/// `name`'s cosignature line on `note` at `time`.
fn cosign(signing: &SigningKey, vkey: &str, note: &str, time: u64) -> String {
    let (name, rest) = vkey.split_once('+').expect("a vkey");
    let id = u32::from_str_radix(&rest[..8], 16).expect("hex");
    let text = &note[..note.find("\n\n").expect("a text") + 1];
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(text.as_bytes());
    let mut signature = id.to_be_bytes().to_vec();
    signature.extend_from_slice(&time.to_be_bytes());
    signature.extend_from_slice(&signing.sign(&message).to_bytes());
    format!("\u{2014} {name} {}\n", STANDARD.encode(signature))
}

#[test]
fn a_witness_key_is_read_only_when_whole() {
    let (_, vkey) = witness("witness.example/w1", 7);
    let key = WitnessKey::parse(&vkey).expect("a witness key");
    assert_eq!(key.name(), "witness.example/w1");
    let (name, rest) = vkey.split_once('+').expect("parts");
    let (id, encoded) = rest.split_once('+').expect("parts");
    let mut typed = STANDARD.decode(encoded).expect("base64");
    let other_id = format!(
        "{name}+{:08x}+{encoded}",
        u32::from_str_radix(id, 16).expect("hex") ^ 1
    );
    typed[0] = 0x01;
    let signed_note_type = format!("{name}+{id}+{}", STANDARD.encode(&typed));
    for bad in [
        other_id.as_str(),
        signed_note_type.as_str(),
        "witness.example/w1+0000",
        "witness.example/w1+00000000+not base64!",
        &format!("{name}+{id}+{}", STANDARD.encode([4u8; 10])),
    ] {
        assert!(WitnessKey::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn cosignatures_are_told_apart_and_the_proof_a_witness_gets_holds() {
    let fixture = open("journal", 10).await;
    for i in 0..25 {
        fixture
            .log
            .append(&decision(&format!("d{i}"), i))
            .await
            .expect("durable");
    }
    let checkpoints = fixture
        .store
        .checkpoints(&fixture.origin)
        .await
        .expect("read");
    let (first, last) = (&checkpoints[0], checkpoints.last().expect("a checkpoint"));
    assert!(first.size < last.size, "{checkpoints:?}");
    let (signing, vkey) = witness("witness.example/w1", 7);
    let key = WitnessKey::parse(&vkey).expect("key");

    // None, a valid one, a changed one, one of another time, another
    // witness's.
    assert_eq!(cosigned_by(&last.note, &key).expect("reads"), None);
    let line = cosign(&signing, &vkey, &last.note, 1_800_000_000);
    let cosigned = take_cosignatures(&last.note, &line, &key).expect("cosigned");
    assert_eq!(
        cosigned_by(&cosigned, &key).expect("reads"),
        Some(1_800_000_000)
    );
    let forged = {
        let mut bytes = line.clone().into_bytes();
        let at = bytes.len() - 10;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        format!("{}{}", last.note, String::from_utf8(bytes).expect("text"))
    };
    assert!(cosigned_by(&forged, &key).is_err(), "a changed cosignature");
    let at_another_time = cosigned.replacen(&line, &cosign(&signing, &vkey, &last.note, 1), 1);
    assert_eq!(cosigned_by(&at_another_time, &key).expect("reads"), Some(1));
    let (other_signing, other_vkey) = witness("witness.example/w2", 9);
    let other = cosign(&other_signing, &other_vkey, &last.note, 5);
    assert!(take_cosignatures(&last.note, &other, &key).is_err());

    // The body: old size, the proof, an empty line, the checkpoint; the
    // proof takes the first checkpoint's root to the last's.
    let body = add_checkpoint_body(
        &fixture.store,
        &fixture.origin,
        first.size,
        last.size,
        &last.note,
    )
    .await
    .expect("body");
    let (head, note) = body.split_once("\n\n").expect("an empty line");
    assert_eq!(note, last.note);
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some(format!("old {}", first.size).as_str()));
    let proof: Vec<Hash> = lines
        .map(|line| {
            Hash(
                STANDARD
                    .decode(line)
                    .expect("base64")
                    .try_into()
                    .expect("32 bytes"),
            )
        })
        .collect();
    let root = |row: &crate::CheckpointRow| Hash(row.root.clone().try_into().expect("32 bytes"));
    check_tree(&proof, last.size, root(last), first.size, root(first)).expect("consistent");
    let mut wrong = proof.clone();
    wrong[0].0[0] ^= 1;
    assert!(check_tree(&wrong, last.size, root(last), first.size, root(first)).is_err());
    let from_zero = add_checkpoint_body(&fixture.store, &fixture.origin, 0, last.size, &last.note)
        .await
        .expect("body");
    assert!(from_zero.starts_with("old 0\n\n"), "no proof from 0");
}
