//! What the audit commands read from files an auditor is handed: records
//! (canonical bytes), checkpoint notes and inclusion proofs. None may panic;
//! none may be accepted unless it really is canonical or really verifies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sectorgate_audit::{Entry, InclusionProof, check_checkpoint, check_inclusion, split_notes};

const VKEY: &str = "fuzz.test/log+1b7a4e7f+AQ6yrSCz3ztsTbd6ixZ9A2yvSoOLW7Of1xt06Xa9eKPS";

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::decode(data) {
        assert_eq!(entry.encode(), data, "a non-canonical record was accepted");
    }
    let text = String::from_utf8_lossy(data);
    for note in split_notes(&text) {
        let _ = check_checkpoint(&note, VKEY);
    }
    if let Ok(proof) = serde_json::from_slice::<InclusionProof>(data) {
        let _ = check_inclusion(&proof, VKEY);
    }
});
