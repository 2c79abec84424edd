//! The tree and its proofs against the RFC 6962 definitions (MTH, PATH,
//! PROOF, written out directly below), and the mutations of a proof that
//! must all fail.

use sha2::{Digest, Sha256};
use tlog_tiles::{
    EMPTY_HASH, Hash, check_record, check_tree, prove_record, prove_tree, record_hash,
    stored_hashes,
};

use crate::merkle::{Frontier, MemoryHashes};

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1: MTH(D[n]).
fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => sha256(&[]),
        1 => sha256(&[&[0], &d[0]]),
        n => {
            let k = split(n);
            sha256(&[&[1], &mth(&d[..k]).0, &mth(&d[k..]).0])
        }
    }
}

/// RFC 6962 §2.1.1: PATH(m, D[n]).
fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 6962 §2.1.2: PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
fn subproof(m: usize, d: &[Vec<u8>], complete: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if complete { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], complete);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

/// The stored hashes of a log of `data`, as the writer stores them.
fn stored(data: &[Vec<u8>]) -> (Frontier, MemoryHashes) {
    let mut frontier = Frontier::default();
    let mut hashes = MemoryHashes::default();
    for record in data {
        let mut blob = Vec::new();
        frontier.push(record_hash(record), |hash| blob.push(hash));
        hashes.blobs.push(blob);
    }
    (frontier, hashes)
}

fn flip(hash: Hash, bit: usize) -> Hash {
    let mut bytes = hash.0;
    bytes[bit / 8] ^= 1 << (bit % 8);
    Hash(bytes)
}

#[test]
fn roots_match_the_definition_and_the_known_vectors() {
    assert_eq!(Frontier::default().root(), EMPTY_HASH);
    assert_eq!(EMPTY_HASH, mth(&[]));
    // The eight leaves of RFC 6962's reference test data.
    let rfc: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).expect("hex"))
    .collect();
    let (frontier, _) = stored(&rfc);
    assert_eq!(
        hex::encode(frontier.root().0),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    assert_eq!(
        hex::encode(stored(&rfc[..1]).0.root().0),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    for n in 0..70 {
        let data = leaves(n);
        assert_eq!(stored(&data).0.root(), mth(&data), "size {n}");
    }
}

#[test]
fn stored_hashes_are_those_of_the_tlog_model() {
    let data = leaves(67);
    let (_, mine) = stored(&data);
    for (n, record) in data.iter().enumerate() {
        let theirs = stored_hashes(n as u64, record, &mine).expect("stored hashes");
        assert_eq!(theirs, mine.blobs[n], "record {n}");
    }
    let (frontier, hashes) = stored(&data);
    let indexes = tlog_tiles::sub_tree_index(0, 67, vec![]);
    let nodes = tlog_tiles::HashReader::read_hashes(&hashes, &indexes).expect("nodes");
    assert_eq!(Frontier::from_subtrees(67, nodes), Some(frontier));
}

#[test]
fn inclusion_proofs_are_rfc_paths_and_every_mutation_fails() {
    for n in 1..=33usize {
        let data = leaves(n);
        let (frontier, hashes) = stored(&data);
        let root = frontier.root();
        let t = n as u64;
        for m in 0..n {
            let i = m as u64;
            let leaf = record_hash(&data[m]);
            let proof = prove_record(t, i, &hashes).expect("prove");
            assert_eq!(proof, path(m, &data), "PATH({m}, D[{n}])");
            check_record(&proof, t, root, i, leaf).expect("the proof holds");

            let fails = |p: &Vec<Hash>, t: u64, root: Hash, i: u64, leaf: Hash| {
                check_record(p, t, root, i, leaf).is_err()
            };
            if i > 0 {
                assert!(fails(&proof, t, root, i - 1, leaf), "index - 1");
            }
            assert!(fails(&proof, t, root, i + 1, leaf), "index + 1");
            assert!(fails(&proof, t * 2, root, i, leaf), "size doubled");
            if t / 2 > i {
                assert!(fails(&proof, t / 2, root, i, leaf), "size halved");
            }
            assert!(
                fails(&proof, t, root, i, record_hash(b"wrong")),
                "wrong leaf"
            );
            assert!(fails(&proof, t, EMPTY_HASH, i, leaf), "empty root");
            assert!(fails(&proof, t, Hash([7; 32]), i, leaf), "random root");
            for (at, node) in proof.iter().enumerate() {
                for bit in [0, 131, 255] {
                    let mut bad = proof.clone();
                    bad[at] = flip(*node, bit);
                    assert!(fails(&bad, t, root, i, leaf), "flipped bit");
                }
            }
            let mut longer = proof.clone();
            longer.push(Hash([0; 32]));
            assert!(fails(&longer, t, root, i, leaf), "trailing garbage");
            let mut prefixed = vec![Hash([0; 32])];
            prefixed.extend(proof.iter().copied());
            assert!(fails(&prefixed, t, root, i, leaf), "leading garbage");
            if !proof.is_empty() {
                assert!(
                    fails(&proof[..proof.len() - 1].to_vec(), t, root, i, leaf),
                    "truncated"
                );
            }
        }
    }
}

#[test]
fn consistency_proofs_are_rfc_proofs_and_every_mutation_fails() {
    for n in 1..=33usize {
        let data = leaves(n);
        let (frontier, hashes) = stored(&data);
        let new_root = frontier.root();
        let t = n as u64;
        for m in 1..=n {
            let old = m as u64;
            let old_root = mth(&data[..m]);
            let proof = prove_tree(t, old, &hashes).expect("prove");
            assert_eq!(proof, subproof(m, &data, true), "PROOF({m}, D[{n}])");
            check_tree(&proof, t, new_root, old, old_root).expect("consistent");

            let fails = |p: &Vec<Hash>, t: u64, th: Hash, o: u64, oh: Hash| {
                check_tree(p, t, th, o, oh).is_err()
            };
            if m < n {
                assert!(
                    fails(&proof, t, new_root, old + 1, old_root),
                    "old size + 1"
                );
                assert!(fails(&proof, t, new_root, old, new_root), "old root wrong");
            }
            if m > 1 {
                assert!(
                    fails(&proof, t, new_root, old - 1, old_root),
                    "old size - 1"
                );
            }
            if m < n {
                assert!(
                    fails(&proof, t * 2, new_root, old, old_root),
                    "new size doubled"
                );
            }
            assert!(
                fails(&proof, t, EMPTY_HASH, old, old_root),
                "empty new root"
            );
            assert!(
                fails(&proof, t, Hash([9; 32]), old, old_root),
                "random new root"
            );
            assert!(
                fails(&proof, t, new_root, old, Hash([9; 32])),
                "random old root"
            );
            for (at, node) in proof.iter().enumerate() {
                let mut bad = proof.clone();
                bad[at] = flip(*node, 77);
                assert!(fails(&bad, t, new_root, old, old_root), "flipped bit");
            }
            let mut longer = proof.clone();
            longer.push(Hash([0; 32]));
            assert!(
                fails(&longer, t, new_root, old, old_root),
                "trailing garbage"
            );
            if !proof.is_empty() {
                assert!(
                    fails(
                        &proof[..proof.len() - 1].to_vec(),
                        t,
                        new_root,
                        old,
                        old_root
                    ),
                    "truncated"
                );
            }
        }
    }
}
