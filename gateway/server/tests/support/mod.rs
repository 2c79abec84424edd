//! End-to-end test support: a real Synapse (from PyPI, via
//! `scripts/synapse.py`), the real `sectorgate` binary in front of it, and
//! helpers to look at what each of them saw.
//!
//! Every process started here is stopped when its handle drops, and Synapse
//! also has a watchdog that stops it if the test process dies.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support code"
)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed setup step fails the test"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod load;
pub mod peer;
pub mod pki;
pub mod postgres;
pub mod raw;
pub mod upstream;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test virtualenv (Synapse, matrix-nio) and npm packages, installed
/// once per test process by `scripts/deps.sh` (cached between runs).
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let output = Command::new("bash")
            .arg(repo().join("scripts/deps.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/deps.sh");
        assert!(output.status.success(), "scripts/deps.sh failed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("SECTORGATE_VENV="))
            .expect("deps.sh names the venv");
        PathBuf::from(line.trim())
    })
}

/// The venv's Python.
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// A port free on 127.0.0.1 now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Polls `check` every 100 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running Synapse.
pub struct Synapse {
    pub dir: tempfile::TempDir,
    pub base_url: String,
    pub access_log: PathBuf,
    pub secret: String,
    pub appservice_token_file: PathBuf,
    /// The bridges registered with `SynapseOptions::bridges`, by id:
    /// `{"registration": path, "as_token": token}`.
    pub bridges: Value,
    stopped: bool,
}

/// Options for a test Synapse.
#[derive(Default)]
pub struct SynapseOptions {
    pub url_preview: bool,
    /// Application services to register, as `ID:SENDER:USER_REGEX`.
    pub bridges: Vec<&'static str>,
    /// The server name (default `localhost`).
    pub server_name: Option<String>,
    /// Serve federation over TLS on this port, with this certificate and key.
    pub federation_tls: Option<(u16, PathBuf, PathBuf)>,
    /// Verify other servers against this CA, and federate over loopback.
    pub federation_ca: Option<PathBuf>,
    /// Send outbound HTTPS (federation) through this proxy URL.
    pub https_proxy: Option<String>,
    /// The registration shared secret, instead of a random one.
    pub shared_secret: Option<String>,
    /// Leave the settings the profiles' `homeserver_settings` ask for at
    /// Synapse's own defaults (`scripts/synapse.py --synapse-defaults`).
    pub synapse_defaults: bool,
    /// `homeserver.yaml` settings, as `dotted.key=JSON`.
    pub settings: Vec<&'static str>,
}

impl Synapse {
    /// Starts a fresh Synapse and waits until it answers.
    pub fn start(options: SynapseOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(secret) = &options.shared_secret {
            std::fs::write(dir.path().join("registration_shared.secret"), secret)
                .expect("write the shared secret");
        }
        let mut command = Command::new(python());
        command
            .arg(repo().join("scripts/synapse.py"))
            .args(["start", "--dir"])
            .arg(dir.path())
            .args(["--watch-parent", &std::process::id().to_string()])
            .stderr(Stdio::inherit());
        for bridge in &options.bridges {
            command.args(["--bridge", bridge]);
        }
        if options.url_preview {
            command.args(["--url-preview", "--url-preview-allow", "127.0.0.1/32"]);
        }
        if let Some(name) = &options.server_name {
            command.args(["--server-name", name]);
        }
        if let Some((port, cert, key)) = &options.federation_tls {
            command
                .args(["--federation-tls-port", &port.to_string(), "--tls-cert"])
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if let Some(ca) = &options.federation_ca {
            command.arg("--federation-ca").arg(ca);
        }
        if let Some(proxy) = &options.https_proxy {
            command.args(["--https-proxy", proxy]);
        }
        if options.synapse_defaults {
            command.arg("--synapse-defaults");
        }
        for setting in &options.settings {
            command.args(["--set", setting]);
        }
        let output = command.output().expect("run synapse.py start");
        assert!(output.status.success(), "synapse.py start failed");
        let info: Value = serde_json::from_slice(
            output
                .stdout
                .split(|b| *b == b'\n')
                .rfind(|l| !l.is_empty())
                .unwrap_or(b"{}"),
        )
        .expect("synapse.py prints JSON");
        Self {
            base_url: info["base_url"].as_str().expect("base_url").to_owned(),
            access_log: PathBuf::from(info["access_log"].as_str().expect("access_log")),
            bridges: info["bridges"].clone(),
            appservice_token_file: PathBuf::from(
                info["appservice_token_file"]
                    .as_str()
                    .expect("appservice_token_file"),
            ),
            secret: info["registration_shared_secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            dir,
            stopped: false,
        }
    }

    /// Stops Synapse now.
    pub fn stop(&mut self) {
        if !self.stopped {
            let _ = Command::new(python())
                .arg(repo().join("scripts/synapse.py"))
                .args(["stop", "--dir"])
                .arg(self.dir.path())
                .status();
            self.stopped = true;
        }
    }

    /// Synapse's access log so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(&self.access_log).unwrap_or_default()
    }

    /// How many files Synapse's media store holds (every upload it took
    /// whole is one or more).
    pub fn media_files(&self) -> usize {
        let state: Value = serde_json::from_slice(
            &std::fs::read(self.dir.path().join("harness.json")).expect("harness.json"),
        )
        .expect("harness.json is JSON");
        let store =
            PathBuf::from(state["data_dir"].as_str().expect("data_dir")).join("media_store");
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|entry| match entry.file_type() {
                        Ok(kind) if kind.is_dir() => count(&entry.path()),
                        Ok(_) => 1,
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        count(&store)
    }

    /// Waits until Synapse's access log mentions `needle` (true) or 15 s pass (false).
    pub fn saw(&self, needle: &str) -> bool {
        wait_for(Duration::from_secs(15), || {
            self.access_log().contains(needle).then_some(())
        })
        .is_some()
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `sectorgate serve`.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin_url: String,
    pub audit_db: PathBuf,
    /// The `[audit] database` URL.
    pub audit_url: String,
    /// The log's origin, if the test named one.
    pub audit_origin: Option<String>,
    config_path: PathBuf,
    unprivileged: bool,
    env: Vec<(&'static str, String)>,
    child: Child,
}

/// Starts `sectorgate serve` and waits until it listens and is healthy;
/// if it exits first, its log.
fn launch(
    dir: &Path,
    config_path: &Path,
    unprivileged: bool,
    env: &[(&'static str, String)],
) -> Result<(Child, String, String), String> {
    let addr_file = dir.join("addr.json");
    let _ = std::fs::remove_file(&addr_file);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gateway.log"))
        .expect("log file");
    let mut command = if unprivileged {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(dir.join("sectorgate"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_sectorgate"))
    };
    let mut child = command
        .envs(env.iter().map(|(name, value)| (*name, value)))
        .args(["serve", "--config"])
        .arg(config_path)
        .arg("--addr-file")
        .arg(&addr_file)
        .current_dir(dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start sectorgate");
    let mut exited = None;
    let addrs: Option<Value> = wait_for(Duration::from_secs(60), || {
        if let Ok(Some(status)) = child.try_wait() {
            exited = Some(status);
            return Some(Value::Null);
        }
        std::fs::read(&addr_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    });
    let log = || std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
    let addrs = match (addrs, exited) {
        (Some(addrs), None) => addrs,
        (_, Some(status)) => {
            return Err(format!(
                "sectorgate exited ({status}) before listening:\n{}",
                log()
            ));
        }
        (None, None) => panic!("sectorgate wrote no addresses in 60 s:\n{}", log()),
    };
    let url = format!("http://{}", addrs["client"].as_str().expect("client addr"));
    let admin_url = format!("http://{}", addrs["admin"].as_str().expect("admin addr"));
    let health = format!("{admin_url}/health");
    wait_for(Duration::from_secs(20), || {
        http()
            .get(&health)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    })
    .expect("sectorgate is healthy");
    Ok((child, url, admin_url))
}

/// Options for a test gateway.
pub struct GatewayOptions {
    pub homeserver: String,
    /// A bundled profile's id, or a profile folder's path.
    pub profile: String,
    pub response_timeout: &'static str,
    pub otlp_endpoint: Option<String>,
    /// The application service token file (the profiles that honour users'
    /// invite permissions need one).
    pub appservice_token_file: Option<PathBuf>,
    /// The audit database URL; by default SQLite in the gateway's folder.
    pub audit_database: Option<String>,
    /// The log's origin (needed with PostgreSQL).
    pub audit_origin: Option<String>,
    /// The checkpoint key file; by default one in the gateway's folder.
    pub checkpoint_key: Option<PathBuf>,
    /// More lines for `[audit]`.
    pub audit_extra: String,
    /// Run as the unprivileged user `nobody` (root ignores file modes).
    pub unprivileged: bool,
    /// Environment variables for the gateway's process.
    pub env: Vec<(&'static str, String)>,
    pub extra: String,
}

impl GatewayOptions {
    /// A gateway for `homeserver` under a bundled `profile`.
    pub fn new(homeserver: &str, profile: &str) -> Self {
        Self {
            homeserver: homeserver.to_owned(),
            profile: profile.to_owned(),
            response_timeout: "10s",
            otlp_endpoint: None,
            appservice_token_file: None,
            audit_database: None,
            audit_origin: None,
            checkpoint_key: None,
            audit_extra: String::new(),
            unprivileged: false,
            env: Vec::new(),
            extra: String::new(),
        }
    }

    /// A gateway for `synapse` under `profile`, with Synapse's application
    /// service token.
    pub fn for_synapse(synapse: &Synapse, profile: &str) -> Self {
        Self {
            appservice_token_file: Some(synapse.appservice_token_file.clone()),
            ..Self::new(&synapse.base_url, profile)
        }
    }

    /// A gateway for a homeserver that is not Synapse: a token file with a
    /// token nobody checks.
    pub fn for_stand_in(homeserver: &str, profile: &str) -> Self {
        static FILE: OnceLock<tempfile::NamedTempFile> = OnceLock::new();
        let file = FILE.get_or_init(|| {
            let file = tempfile::NamedTempFile::new().expect("token file");
            std::fs::write(file.path(), "stand-in-token").expect("write token");
            // Readable by a gateway running unprivileged too (a test token).
            std::fs::set_permissions(
                file.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .expect("chmod token");
            file
        });
        Self {
            appservice_token_file: Some(file.path().to_owned()),
            ..Self::new(homeserver, profile)
        }
    }
}

impl Gateway {
    /// Starts the real binary with a config written for this test.
    pub fn start(options: GatewayOptions) -> Self {
        Self::try_start(options).unwrap_or_else(|log| panic!("{log}"))
    }

    /// Starts a gateway; if it exits before it listens, its log.
    pub fn try_start(options: GatewayOptions) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit_db = dir.path().join("audit.db");
        let audit_url = options
            .audit_database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", audit_db.display()));
        let config = format!(
            "[listen]\nclient = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\n\
             [homeserver]\nurl = \"{hs}\"\nconnect_timeout = \"2s\"\nresponse_timeout = \"{timeout}\"\n{token}\n\
             [profile]\n{profile}\n\n\
             [audit]\ndatabase = \"{db}\"\n{audit_extra}\npseudonym_keys = \"{key}\"\ncheckpoint_key = \"{checkpoint}\"\nlock_timeout = \"300ms\"\n\n\
             [telemetry]\nlog_format = \"json\"\nlog_filter = \"info\"\n{otlp}\n{shutdown}{extra}\n",
            hs = options.homeserver,
            token = options
                .appservice_token_file
                .map(|file| format!("appservice_token_file = \"{}\"\n", file.display()))
                .unwrap_or_default(),
            profile = if options.profile.contains('/') {
                format!("path = \"{}\"", options.profile)
            } else {
                format!("bundled = \"{}\"", options.profile)
            },
            timeout = options.response_timeout,
            db = audit_url,
            audit_extra = match &options.audit_origin {
                Some(origin) => format!("origin = \"{origin}\"\n{}", options.audit_extra),
                None => options.audit_extra.clone(),
            },
            key = dir.path().join("pseudonym-keys").display(),
            checkpoint = options
                .checkpoint_key
                .clone()
                .unwrap_or_else(|| dir.path().join("checkpoint.key"))
                .display(),
            otlp = options
                .otlp_endpoint
                .map(|endpoint| format!("otlp_endpoint = \"{endpoint}\"\n"))
                .unwrap_or_default(),
            // Tests stop their gateways at once, unless they test stopping.
            shutdown = if options.extra.contains("[shutdown]") {
                ""
            } else {
                "[shutdown]\ngrace = \"0s\"\n"
            },
            extra = options.extra,
        );
        let config_path = dir.path().join("sectorgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        if options.unprivileged {
            use std::os::unix::fs::PermissionsExt;
            // nobody runs its own copy of the binary, in a folder it owns.
            std::fs::copy(
                env!("CARGO_BIN_EXE_sectorgate"),
                dir.path().join("sectorgate"),
            )
            .expect("copy the binary");
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("open the folder");
            for entry in std::fs::read_dir(dir.path()).expect("list") {
                let path = entry.expect("entry").path();
                std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
            }
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown");
        }
        let (child, url, admin_url) =
            launch(dir.path(), &config_path, options.unprivileged, &options.env)?;
        Ok(Self {
            dir,
            url,
            admin_url,
            audit_db,
            audit_url,
            audit_origin: options.audit_origin,
            config_path,
            unprivileged: options.unprivileged,
            env: options.env,
            child,
        })
    }

    /// Another instance with the same config file, in a folder of its own,
    /// with its own environment (its log's origin, `origin`, among it).
    pub fn sibling(&self, origin: &str, env: Vec<(&'static str, String)>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (child, url, admin_url) = launch(dir.path(), &self.config_path, false, &env)
            .unwrap_or_else(|log| panic!("{log}"));
        Self {
            dir,
            url,
            admin_url,
            audit_db: self.audit_db.clone(),
            audit_url: self.audit_url.clone(),
            audit_origin: Some(origin.to_owned()),
            config_path: self.config_path.clone(),
            unprivileged: false,
            env,
            child,
        }
    }

    /// Kills the gateway with SIGKILL (no chance to clean up) and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the gateway again, with the same config, folder and database.
    pub fn restart(&mut self) {
        self.kill();
        let (child, url, admin_url) = launch(
            self.dir.path(),
            &self.config_path,
            self.unprivileged,
            &self.env,
        )
        .unwrap_or_else(|log| panic!("{log}"));
        self.child = child;
        self.url = url;
        self.admin_url = admin_url;
    }

    /// Runs `sectorgate audit <args>` on this gateway's config; its exit
    /// code and standard output.
    pub fn audit_command(&self, args: &[&str]) -> (i32, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_sectorgate"))
            .envs(self.env.iter().map(|(name, value)| (*name, value)))
            .arg("audit")
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .output()
            .expect("run sectorgate audit");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// Stops the gateway with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.send_term();
        self.wait()
    }

    /// Sends SIGTERM, and returns at once.
    pub fn send_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Waits for the gateway to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("gateway exit")
    }

    /// The process id (for reading its memory accounting).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the gateway process so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Every entry of every log in the audit database so far, in order.
    pub fn audit_entries(&self) -> Vec<sectorgate_audit::Entry> {
        runtime().block_on(async {
            let store = sectorgate_audit::Store::open(&self.audit_url, Duration::from_secs(5))
                .await
                .expect("open audit db");
            let origins = match &self.audit_origin {
                Some(origin) => vec![origin.clone()],
                None => store.origins().await.expect("origins"),
            };
            let mut entries = Vec::new();
            for origin in origins {
                for row in store.leaves(&origin, 0, u32::MAX).await.expect("leaves") {
                    let bytes = row.record.expect("unpruned record");
                    entries.push(sectorgate_audit::Entry::decode_leaf(&bytes).expect("a record"));
                }
            }
            entries
        })
    }

    /// Every decision recorded so far.
    pub fn audit_records(&self) -> Vec<sectorgate_audit::Decision> {
        self.audit_entries()
            .into_iter()
            .filter_map(|entry| match entry {
                sectorgate_audit::Entry::Decision(decision) => Some(decision),
                sectorgate_audit::Entry::Outcome(_) => None,
            })
            .collect()
    }

    /// The verifier key of the gateway's checkpoints.
    pub fn checkpoint_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("checkpoint.key.pub"))
            .expect("checkpoint key")
            .trim()
            .to_owned()
    }

    /// The audit record of one request.
    /// A series' value in `/metrics` now, named with its labels as
    /// scraped (`sectorgate_reloads_total{result="ok"}`); 0 when absent.
    pub fn metric(&self, series: &str) -> u64 {
        let text = http()
            .get(format!("{}/metrics", self.admin_url))
            .send()
            .expect("metrics")
            .text()
            .expect("metrics text");
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0, |value| value.trim().parse().expect("a whole number"))
    }

    /// `/ready`'s answer.
    pub fn ready(&self) -> serde_json::Value {
        http()
            .get(format!("{}/ready", self.admin_url))
            .send()
            .expect("ready")
            .json()
            .expect("ready JSON")
    }

    /// The config file the gateway was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn audit_record(&self, request_id: &str) -> sectorgate_audit::Decision {
        self.audit_records()
            .into_iter()
            .find(|record| record.request_id == request_id)
            .unwrap_or_else(|| panic!("no audit record for request {request_id}"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small runtime for the async parts of the tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Makes ring the process's TLS crypto provider, as the gateway does.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A blocking HTTP client with a generous overall timeout.
pub fn http() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A registered, logged-in user.
pub struct User {
    pub user_id: String,
    pub token: String,
}

/// Registers a user through `base` with the client API (`m.login.dummy`).
pub fn register(base: &str, localpart: &str) -> User {
    let response = http()
        .post(format!("{base}/_matrix/client/v3/register"))
        .json(&serde_json::json!({
            "username": localpart,
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy"},
        }))
        .send()
        .expect("register");
    let status = response.status();
    let body: Value = response.json().expect("register JSON");
    assert!(status.is_success(), "register {localpart}: {status} {body}");
    User {
        user_id: body["user_id"].as_str().expect("user_id").to_owned(),
        token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    }
}

/// Percent-encodes an id (room, event, user) for one path segment.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The request id the gateway gave a response.
pub fn request_id(response: &reqwest::blocking::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned()
}

/// A unique marker for requests whose arrival at Synapse is checked.
pub fn marker(label: &str) -> String {
    format!("sgmark{label}{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Reads lines of a child's stdout until it exits; returns (status ok, last line).
pub fn run_client(mut command: Command) -> (bool, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start client");
    let stdout = child.stdout.take().expect("stdout");
    let mut last = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if !line.trim().is_empty() {
            last = line;
        }
    }
    let status = child.wait().expect("client exit");
    (status.success(), last)
}
