//! Unit tests for profiles and decisions, including every decision case
//! under `profiles/*/cases/`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use http::{HeaderMap, Method, Uri};
use sectorgate_action::{Catalog, Endpoint, classify};
use serde::Deserialize;

use crate::{Decision, Peer, Profile, ProfileError, Verdict, decide, decide_input_error};

fn peer() -> Peer {
    Peer {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    request: CaseRequest,
    expect: Expected,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRequest {
    method: String,
    path: String,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    raw_body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    verdict: String,
    rule: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    errcode: Option<String>,
}

fn decide_case(request: &CaseRequest, profile: &Profile) -> Decision {
    let method: Method = request.method.parse().expect("method");
    let uri: Uri = request.path.parse().expect("path");
    let body = match (&request.body, &request.raw_body) {
        (Some(json), _) => serde_json::to_vec(json).expect("json"),
        (None, Some(raw)) => raw.as_bytes().to_vec(),
        (None, None) => Vec::new(),
    };
    let headers = HeaderMap::new();
    let request = sectorgate_action::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    match classify(Catalog::global(), &request, 64) {
        Ok(classified) => decide(&classified, profile, &peer()),
        Err(error) => decide_input_error(&error),
    }
}

#[test]
fn every_decision_case_holds() {
    let mut checked = 0;
    for entry in std::fs::read_dir(profiles_dir()).expect("profiles dir") {
        let dir = entry.expect("entry").path();
        let Ok(cases) = std::fs::read_dir(dir.join("cases")) else {
            continue;
        };
        let profile = Profile::from_file(&dir.join("profile.yaml")).expect("profile loads");
        for file in cases {
            let file = file.expect("case file").path();
            let text = std::fs::read_to_string(&file).expect("read cases");
            let cases: Vec<Case> = serde_yaml_ng::from_str(&text).expect("cases parse");
            for case in cases {
                let decision = decide_case(&case.request, &profile);
                let context = format!("{} / {}: {decision:?}", file.display(), case.name);
                assert_eq!(decision.verdict_str(), case.expect.verdict, "{context}");
                assert_eq!(decision.rule.as_str(), case.expect.rule, "{context}");
                if let Verdict::Deny(denial) = &decision.verdict {
                    assert_eq!(Some(denial.status), case.expect.status, "{context}");
                    assert_eq!(
                        Some(denial.errcode),
                        case.expect.errcode.as_deref(),
                        "{context}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} cases found");
}

#[test]
fn bundled_profiles_match_the_files() {
    for id in Profile::bundled_ids() {
        let bundled = Profile::bundled(id).expect("bundled loads");
        let file = Profile::from_file(&profiles_dir().join(id).join("profile.yaml")).expect("file");
        assert_eq!(bundled.id, file.id);
        assert_eq!(bundled.rules.len(), file.rules.len());
    }
}

#[test]
fn healthcare_denies_url_previews_and_base_allows_them() {
    let preview = Endpoint::client("get_media_preview");
    let healthcare = Profile::bundled("healthcare").expect("healthcare");
    let base = Profile::bundled("base").expect("base");
    assert!(healthcare.rule_for(&preview).is_some());
    assert!(base.rule_for(&preview).is_none());
}

#[test]
fn a_rule_naming_an_unknown_endpoint_fails_to_load() {
    let dir = std::env::temp_dir().join(format!("sectorgate-policy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("typo")).expect("mkdir");
    let path = dir.join("typo/profile.yaml");
    std::fs::write(
        &path,
        "id: typo\ntitle: t\nendpoints:\n  rules:\n    - id: x\n      verdict: deny\n      endpoints: [client.get_media_previews]\n",
    )
    .expect("write");
    let loaded = Profile::from_file(&path);
    assert!(
        matches!(loaded, Err(ProfileError::UnknownEndpoint { .. })),
        "{loaded:?}"
    );
    std::fs::write(&path, "id: typo\ntitle: t\nsurprise: 1\n").expect("write");
    assert!(matches!(
        Profile::from_file(&path),
        Err(ProfileError::Malformed { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unknown_bundled_profile_is_an_error() {
    assert!(matches!(
        Profile::bundled("nope"),
        Err(ProfileError::UnknownBundled(..))
    ));
}
