//! `sectorgate-conformance`: list a profile's tests, run them against a
//! server, and check a report folder.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sectorgate_conformance::catalog::{Catalog, Source, Target};
use sectorgate_conformance::client::{self, CertifyOptions, People};
use sectorgate_conformance::report::{Report, manifest};
use sectorgate_conformance::selection::Selection;
use sectorgate_conformance::server::{self, FederationSetup, PeerPublish, RunOptions, UserHook};
use sectorgate_conformance::verdict::Outcome;

/// The exit code of a run whose verdict is INCOMPLETE.
const INCOMPLETE: u8 = 3;

/// Certify Matrix servers and clients against a sectorgate profile.
#[derive(Debug, Parser)]
#[command(name = "sectorgate-conformance", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RunTarget {
    /// A homeserver as a black box: judged on status and errcode.
    Server,
    /// A homeserver behind sectorgate: the answers must also name the rule.
    Gateway,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the tests of a profile: id, requirements, and why one does not
    /// apply.
    List {
        /// A bundled profile id, or a profile folder.
        #[arg(long)]
        profile: String,
        /// Print the catalog as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the profile's tests against a deployed server and write a report
    /// folder. Exits 0 when the verdict is PASS, 1 when it is FAIL, 3 when
    /// it is INCOMPLETE (a requirement that applies was not exercised).
    Run(Box<RunArgs>),
    /// Certify a client (passive): guide its user step by step while a
    /// gateway records their exchanges (`[record]`), then judge what the
    /// client sent. With `--offline`, judge a saved capture as it is. Exits
    /// 0 when the verdict is PASS, 1 when it is FAIL, 3 when it is
    /// INCOMPLETE.
    CertifyClient(Box<CertifyArgs>),
    /// Check a report folder against its manifest. Exits 1 on any problem.
    VerifyReport {
        /// The report folder.
        dir: PathBuf,
        /// The public key that must have signed it (base64, or a file
        /// holding it).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Make a signing key file and print its public key.
    Keygen {
        /// The key file to write (it must not exist).
        file: PathBuf,
    },
}

/// `run`'s arguments.
#[derive(Debug, Args)]
struct RunArgs {
    /// A bundled profile id, or a profile folder.
    #[arg(long)]
    profile: String,
    /// What is under test.
    #[arg(long, value_enum)]
    target: RunTarget,
    /// The client-server API's base URL.
    #[arg(long)]
    url: String,
    /// The homeserver's own URL, for rooms the profile does not let a
    /// client create (cases about what happens in one); without it, those
    /// cases are not exercised.
    #[arg(long)]
    fixture_url: Option<String>,
    /// The federation API's base URL (federation tests are skipped
    /// without it).
    #[arg(long)]
    federation_url: Option<String>,
    /// The target's server name (by default the test users' server).
    #[arg(long)]
    server_name: Option<String>,
    /// The server name the suite's federation peer signs as.
    #[arg(long, default_value = "conformance-peer.invalid")]
    peer_name: String,
    /// Publish the peer's key over HTTPS on this address, so the target can
    /// verify the peer (it must reach this address under --peer-name and
    /// trust --peer-tls-cert).
    #[arg(long, requires_all = ["peer_tls_cert", "peer_tls_key"])]
    peer_listen: Option<std::net::SocketAddr>,
    /// The server name of the suite's member peer: a server the target's
    /// federation allowlist names, which the suite signs as (see
    /// docs/conformance.md for the target's federation set-up).
    #[arg(long, requires_all = ["federation_url", "other_member", "wildcard_member"])]
    member_peer: Option<String>,
    /// Publish the member peer's key over HTTPS on this address (with
    /// --peer-tls-cert and --peer-tls-key).
    #[arg(long, requires_all = ["member_peer", "peer_tls_cert", "peer_tls_key"])]
    member_peer_listen: Option<std::net::SocketAddr>,
    /// Another server the target's allowlist names (never contacted).
    #[arg(long, requires = "member_peer")]
    other_member: Option<String>,
    /// A server the target's allowlist admits through a wildcard entry
    /// `*.<its parent domain>` (never contacted).
    #[arg(long, requires = "member_peer")]
    wildcard_member: Option<String>,
    /// The client-server URL of an instance of the target whose signed
    /// federation list is stale.
    #[arg(long, requires_all = ["member_peer", "stale_federation_url"])]
    stale_url: Option<String>,
    /// That instance's federation URL.
    #[arg(long, requires = "stale_url")]
    stale_federation_url: Option<String>,
    /// The certificate chain (PEM) the peer's key server presents.
    #[arg(long)]
    peer_tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    peer_tls_key: Option<PathBuf>,
    /// Where test users come from: `open`, `shared-secret:FILE`, or
    /// `list:FILE` (YAML list of {user, password}).
    #[arg(long, default_value = "open")]
    users: String,
    /// The registration file (YAML) of an application service registered
    /// on the homeserver for the run: it plays the bridge in cases about
    /// bridges and sends the old events some cases need. Repeat it for the
    /// bridges the profile names by id.
    #[arg(long)]
    appservice: Vec<PathBuf>,
    /// An extra CA certificate to trust (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// The product's name, instead of what it reports.
    #[arg(long)]
    product: Option<String>,
    /// The product's version, instead of what it reports.
    #[arg(long)]
    product_version: Option<String>,
    /// Each request's timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    output: OutputArgs,
}

/// Which tests a run takes.
#[derive(Debug, Args)]
struct SelectionArgs {
    /// Run only tests whose id matches (glob; repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Leave out tests whose id matches (glob; repeatable).
    #[arg(long)]
    skip: Vec<String>,
    /// A YAML map of test id → reason: those failures do not fail the run,
    /// and the report says it is not for certification.
    #[arg(long)]
    expected_failures: Option<PathBuf>,
}

impl SelectionArgs {
    fn selection(self) -> Result<Selection, String> {
        let expected_failures = match &self.expected_failures {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => BTreeMap::new(),
        };
        Ok(Selection {
            only: self.only,
            skip: self.skip,
            expected_failures,
        })
    }
}

/// Where the report goes.
#[derive(Debug, Args)]
struct OutputArgs {
    /// A key file (`keygen`) to sign the report's manifest with.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// The report folder.
    #[arg(long)]
    out: PathBuf,
}

impl OutputArgs {
    /// Writes the report folder, prints each result and the summary, and
    /// exits 0 when the run passed.
    fn finish(&self, report: &Report) -> ExitCode {
        let key = match self
            .signing_key
            .as_deref()
            .map(manifest::read_signing_key)
            .transpose()
        {
            Ok(key) => key,
            Err(why) => return fail(&why),
        };
        let out = &self.out;
        if let Err(error) = report.write(out, key.as_ref()) {
            return fail(&format!(
                "cannot write the report to {}: {error}",
                out.display()
            ));
        }
        let mut text = String::new();
        for result in &report.results {
            let _ = writeln!(text, "{:<15} {}", result.status.as_str(), result.id);
        }
        let counts: Vec<String> = report
            .summary
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(status, count)| format!("{count} {status}"))
            .collect();
        let _ = writeln!(text, "{}; report in {}", counts.join(", "), out.display());
        let verdict = &report.verdict;
        for unmet in verdict.failed.iter().chain(&verdict.incomplete) {
            let _ = writeln!(text, "  {} {}", unmet.status, unmet.requirement);
            for (id, status, why) in &unmet.tests {
                let _ = writeln!(text, "      {status} {id}: {why}");
            }
        }
        let _ = writeln!(text, "verdict {}", verdict.line());
        print(&text);
        match verdict.outcome {
            Outcome::Pass => ExitCode::SUCCESS,
            Outcome::Fail => ExitCode::FAILURE,
            Outcome::Incomplete => ExitCode::from(INCOMPLETE),
        }
    }
}

/// `certify-client`'s arguments.
#[derive(Debug, Args)]
struct CertifyArgs {
    /// A bundled profile id, or a profile folder.
    #[arg(long)]
    profile: String,
    /// The capture file the gateway's `[record]` option writes.
    #[arg(long)]
    capture: PathBuf,
    /// The captured test user (the gateway's `[record] user`).
    #[arg(long)]
    user: String,
    /// The user to chat with; by default one is made through `--url`.
    #[arg(long, requires = "blocker")]
    peer: Option<String>,
    /// A user who blocks all invites (already set so); by default one is
    /// made through `--url`.
    #[arg(long, requires = "peer")]
    blocker: Option<String>,
    /// The gateway's client API URL (to make the helper users, and for the
    /// report's URLs).
    #[arg(long)]
    url: Option<String>,
    /// Where the helper users come from: `open`, `shared-secret:FILE` or
    /// `list:FILE`.
    #[arg(long, default_value = "open")]
    users: String,
    /// An extra CA certificate to trust (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Judge the capture as it is, without guiding anyone.
    #[arg(long)]
    offline: bool,
    /// How long to wait for each step.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    step_timeout: Duration,
    /// The client's name (by default, the `User-Agent` it sent most).
    #[arg(long)]
    product: Option<String>,
    /// The client's version.
    #[arg(long, default_value = "")]
    product_version: String,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List { profile, json } => list(&profile, json),
        Command::Run(args) => run_command(*args),
        Command::CertifyClient(args) => certify_command(*args),
        Command::VerifyReport { dir, public_key } => verify(&dir, public_key.as_deref()),
        Command::Keygen { file } => keygen(&file),
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let RunArgs {
        profile,
        target,
        url,
        fixture_url,
        federation_url,
        server_name,
        peer_name,
        peer_listen,
        peer_tls_cert,
        peer_tls_key,
        member_peer,
        member_peer_listen,
        other_member,
        wildcard_member,
        stale_url,
        stale_federation_url,
        users,
        appservice,
        ca,
        selection,
        product,
        product_version,
        timeout,
        output,
    } = args;
    let catalog = match Catalog::load(&profile) {
        Ok(catalog) => catalog,
        Err(error) => return fail(&error.to_string()),
    };
    let options = (|| -> Result<RunOptions, String> {
        Ok(RunOptions {
            target: match target {
                RunTarget::Server => Target::Server,
                RunTarget::Gateway => Target::Gateway,
            },
            url,
            fixture_url,
            federation_url,
            server_name,
            peer_name,
            peer_publish: match (peer_listen, peer_tls_cert, peer_tls_key) {
                (Some(listen), Some(cert), Some(key)) => Some(PeerPublish { listen, cert, key }),
                _ => None,
            },
            federated: match (member_peer, other_member, wildcard_member) {
                (Some(member), Some(other_member), Some(wildcard_member)) => {
                    Some(FederationSetup {
                        member,
                        member_listen: member_peer_listen,
                        other_member,
                        wildcard_member,
                        stale: stale_url.zip(stale_federation_url),
                    })
                }
                _ => None,
            },
            users: UserHook::parse(&users)?,
            appservices: appservice
                .iter()
                .map(|path| server::Appservice::read(path))
                .collect::<Result<_, _>>()?,
            ca,
            selection: selection.selection()?,
            product,
            product_version,
            timeout,
        })
    })();
    match options {
        Ok(options) => output.finish(&server::run(&catalog, &options)),
        Err(why) => fail(&why),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn certify_command(args: CertifyArgs) -> ExitCode {
    let catalog = match Catalog::load(&args.profile) {
        Ok(catalog) => catalog,
        Err(error) => return fail(&error.to_string()),
    };
    let people = match (&args.peer, &args.blocker, &args.url) {
        (Some(peer), Some(blocker), _) => People {
            user: args.user.clone(),
            peer: peer.clone(),
            blocker: blocker.clone(),
        },
        (_, _, Some(url)) => {
            let made = UserHook::parse(&args.users).and_then(|users| {
                client::setup::provision(
                    &catalog.profile,
                    url,
                    &users,
                    args.ca.as_deref(),
                    Duration::from_secs(30),
                )
            });
            match made {
                Ok((peer, blocker)) => People {
                    user: args.user.clone(),
                    peer: peer.user_id,
                    blocker: blocker.user_id,
                },
                Err(why) => return fail(&why),
            }
        }
        _ => return fail("give --peer and --blocker, or --url to make them"),
    };
    let selection = match args.selection.selection() {
        Ok(selection) => selection,
        Err(why) => return fail(&why),
    };
    let options = CertifyOptions {
        capture: args.capture,
        people,
        guide: (!args.offline).then_some(args.step_timeout),
        gateway_url: args.url,
        product: args.product,
        product_version: args.product_version,
        selection,
    };
    args.output
        .finish(&client::certify(&catalog, &options, &mut std::io::stdout()))
}

fn fail(why: &str) -> ExitCode {
    eprintln!("sectorgate-conformance: {why}");
    ExitCode::from(2)
}

fn list(profile: &str, json: bool) -> ExitCode {
    let catalog = match Catalog::load(profile) {
        Ok(catalog) => catalog,
        Err(error) => return fail(&error.to_string()),
    };
    if json {
        return match serde_json::to_string_pretty(&catalog.tests) {
            Ok(text) => print(&format!("{text}\n")),
            Err(error) => fail(&error.to_string()),
        };
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({} tests, profile SHA-256 {})",
        catalog.profile.id,
        catalog.profile.version,
        catalog.tests.len(),
        catalog.profile_hash
    );
    for test in &catalog.tests {
        let targets: Vec<&str> = test.targets.iter().map(|t| t.as_str()).collect();
        let _ = writeln!(out, "{}  [{}]", test.id, targets.join(","));
        let _ = writeln!(out, "    {}", test.title);
        let _ = writeln!(out, "    covers: {}", test.requirements.join(", "));
        if !test.needs.is_empty() {
            let needs: Vec<String> = test.needs.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "    needs: {}", needs.join(", "));
        }
        if let Some(why) = &test.not_exercised {
            let _ = writeln!(out, "    not exercised: {why}");
        }
        if let Source::Homeserver(setting) = &test.source {
            let _ = writeln!(out, "    probe: {}", setting.probe.as_str());
            for (homeserver, change) in &setting.settings {
                let _ = writeln!(out, "    on {homeserver}: {change}");
            }
            let _ = writeln!(out, "    on any homeserver: {}", setting.generic);
        }
    }
    print(&out)
}

fn verify(dir: &Path, public_key: Option<&str>) -> ExitCode {
    let trusted = match public_key {
        None => None,
        Some(text) => {
            let text = std::fs::read_to_string(text).unwrap_or_else(|_| text.to_owned());
            match manifest::parse_public_key(&text) {
                Ok(key) => Some(key),
                Err(why) => return fail(&why),
            }
        }
    };
    match manifest::verify(dir, trusted.as_ref()) {
        Ok(verified) => {
            match verified.signed_by {
                Some(key) => println!("ok: {} files, signed by {key}", verified.files),
                None => println!("ok: {} files, not signed", verified.files),
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in problems {
                println!("FAIL: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

fn keygen(file: &Path) -> ExitCode {
    let (key, text) = manifest::generate_key();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .and_then(|mut handle| std::io::Write::write_all(&mut handle, text.as_bytes()));
    if let Err(error) = written {
        return fail(&format!("cannot write {}: {error}", file.display()));
    }
    println!("{}", manifest::public_key(&key.verifying_key()));
    ExitCode::SUCCESS
}
