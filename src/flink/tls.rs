//! TLS toward secured JobManagers (Flink's `security.ssl.rest.*`): a private CA added to
//! the roots, and a client certificate for mutual TLS, read from PEM files and reloaded
//! when they change (a mounted Secret rotates in place).
//!
//! The files are read, parsed and checked with rustls itself (a certificate that is not
//! X.509, a key that does not belong to the certificate) so that every mistake is an
//! error naming the flag and the file, at start-up or when a rotation brings a bad file;
//! only then is a reqwest client built with them. A bad new file keeps the previous client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use super::FlinkError;

const CA_FLAG: &str = "--flink-ca-file";
const CERT_FLAG: &str = "--flink-client-cert";
const KEY_FLAG: &str = "--flink-client-key";

/// How often the files are read again to see whether they changed. Kubernetes updates a
/// mounted Secret within about a minute of its change; a few seconds more do not matter.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The PEM files given on the command line; all optional, the certificate and the key
/// only together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates trusted in addition to the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// The client certificate (and its chain), leaf first.
    pub client_cert: Option<PathBuf>,
    /// The private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("{given} needs {missing} as well (a client certificate and its key go together)")]
    Unpaired {
        given: &'static str,
        missing: &'static str,
    },

    #[error("cannot read {flag} {}: {reason}", path.display())]
    Read {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("{flag} {} is not valid PEM: {reason}", path.display())]
    Pem {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("{flag} {} holds no certificate (no -----BEGIN CERTIFICATE----- block)", path.display())]
    NoCertificate { flag: &'static str, path: PathBuf },

    #[error("{flag} {}: certificate {number} cannot be a trust anchor: {reason}", path.display())]
    BadCa {
        flag: &'static str,
        path: PathBuf,
        number: usize,
        reason: String,
    },

    #[error(
        "{KEY_FLAG} {} holds no private key (no -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)",
        path.display()
    )]
    NoKey { path: PathBuf },

    #[error("{KEY_FLAG} {} holds {count} private keys; give exactly one", path.display())]
    ManyKeys { path: PathBuf, count: usize },

    #[error(
        "{CERT_FLAG} {} and {KEY_FLAG} {} cannot be used together: {reason}",
        cert.display(),
        key.display()
    )]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },

    #[error("failed to build the HTTP client for Flink with the TLS files: {0}")]
    Build(String),
}

/// The reqwest client every Flink call that the lean plain-HTTP client does not make goes
/// through (TLS above all); replaced as a whole when the TLS files change, so a call uses
/// either the old material or the new, and new connections the new. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpsClient {
    current: Arc<RwLock<reqwest::Client>>,
}

impl HttpsClient {
    /// The client for the next call.
    pub fn current(&self) -> reqwest::Client {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace(&self, client: reqwest::Client) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = client;
    }
}

/// A client that is never reloaded (tests, and runs without TLS files).
impl From<reqwest::Client> for HttpsClient {
    fn from(client: reqwest::Client) -> Self {
        Self {
            current: Arc::new(RwLock::new(client)),
        }
    }
}

/// The bytes of the files as last read; compared whole to see a change (they are small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Contents {
    ca: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

/// Owns the files and the client built from them; [`Self::run`] reloads on change.
#[derive(Debug)]
pub struct TlsReloader {
    files: TlsFiles,
    loaded: Contents,
    client: HttpsClient,
}

impl TlsReloader {
    /// Reads and checks the files and builds the client; any problem is an error naming
    /// the flag and the file (the process must not start with TLS it was not asked for).
    pub fn start(files: TlsFiles) -> Result<Self, TlsError> {
        match (&files.client_cert, &files.client_key) {
            (Some(_), None) => {
                return Err(TlsError::Unpaired {
                    given: CERT_FLAG,
                    missing: KEY_FLAG,
                });
            }
            (None, Some(_)) => {
                return Err(TlsError::Unpaired {
                    given: KEY_FLAG,
                    missing: CERT_FLAG,
                });
            }
            _ => {}
        }
        let loaded = read_all(&files)?;
        let client = build_client(&files, &loaded)?.into();
        Ok(Self {
            files,
            loaded,
            client,
        })
    }

    /// The client to hand to every `FlinkClient`; it follows the reloads.
    pub fn client(&self) -> HttpsClient {
        self.client.clone()
    }

    /// Whether there are files to watch at all.
    pub fn watches_files(&self) -> bool {
        !self.files.is_empty()
    }

    /// Reads the files again; when they changed and are good, swaps the client. Answers
    /// whether it swapped. A bad or half-written file keeps the previous client.
    pub fn reload_if_changed(&mut self) -> Result<bool, TlsError> {
        let contents = read_all(&self.files)?;
        if contents == self.loaded {
            return Ok(false);
        }
        let client = build_client(&self.files, &contents)?;
        self.client.replace(client);
        self.loaded = contents;
        Ok(true)
    }

    /// Checks the files every `every` until `shutdown`; logs each reload and each new
    /// error once (a file that stays bad is not logged again every few seconds).
    pub async fn run(mut self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Reading a few small files; not worth a blocking thread.
            match self.reload_if_changed() {
                Ok(true) => {
                    last_error = None;
                    tracing::info!(files = ?self.files, "reloaded the TLS files for Flink");
                }
                Ok(false) => last_error = None,
                Err(error) => {
                    let text = error.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::error!(
                            error = %text,
                            "the TLS files for Flink changed but cannot be used; keeping the previous ones until they are fixed"
                        );
                        last_error = Some(text);
                    }
                }
            }
        }
    }
}

fn read_all(files: &TlsFiles) -> Result<Contents, TlsError> {
    let read = |flag, path: &Option<PathBuf>| {
        path.as_deref()
            .map(|path| read_file(flag, path))
            .transpose()
    };
    Ok(Contents {
        ca: read(CA_FLAG, &files.ca_file)?,
        cert: read(CERT_FLAG, &files.client_cert)?,
        key: read(KEY_FLAG, &files.client_key)?,
    })
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The shared client with the CA certificates added to the roots and the client
/// certificate as its identity, after checking both with rustls.
fn build_client(files: &TlsFiles, contents: &Contents) -> Result<reqwest::Client, TlsError> {
    let mut builder = super::transport::http_client_builder();
    if let (Some(path), Some(pem)) = (&files.ca_file, &contents.ca) {
        for der in ca_certificates(path, pem)? {
            let certificate =
                reqwest::Certificate::from_der(&der).map_err(|e| TlsError::Build(chain(&e)))?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let (Some(cert_path), Some(key_path), Some(cert), Some(key)) = (
        &files.client_cert,
        &files.client_key,
        &contents.cert,
        &contents.key,
    ) {
        check_identity(cert_path, cert, key_path, key)?;
        // reqwest reads the certificates and the (one) key from one PEM text.
        let mut pem = cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(key);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::Identity {
            cert: cert_path.clone(),
            key: key_path.clone(),
            reason: chain(&e),
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| TlsError::Build(chain(&e)))
}

fn certificates(
    flag: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            flag,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            flag,
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// The CA certificates of the bundle, each checked to be usable as a trust anchor.
fn ca_certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = certificates(CA_FLAG, path, pem)?;
    let mut store = rustls::RootCertStore::empty();
    for (index, certificate) in certificates.iter().enumerate() {
        store
            .add(certificate.clone())
            .map_err(|e| TlsError::BadCa {
                flag: CA_FLAG,
                path: path.to_path_buf(),
                number: index + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(certificates)
}

/// The certificate chain parses, the key file holds exactly one key, and that key is
/// the one the leaf certificate was issued for.
fn check_identity(
    cert_path: &Path,
    cert: &[u8],
    key_path: &Path,
    key: &[u8],
) -> Result<(), TlsError> {
    let chain = certificates(CERT_FLAG, cert_path, cert)?;
    let keys = PrivateKeyDer::pem_slice_iter(key)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            flag: KEY_FLAG,
            path: key_path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let key = match <[_; 1]>::try_from(keys) {
        Ok([key]) => key,
        Err(keys) if keys.is_empty() => {
            return Err(TlsError::NoKey {
                path: key_path.to_path_buf(),
            });
        }
        Err(keys) => {
            return Err(TlsError::ManyKeys {
                path: key_path.to_path_buf(),
                count: keys.len(),
            });
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider)
        .map(drop)
        .map_err(|e| TlsError::Identity {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            reason: match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key is not the one the certificate was issued for".into()
                }
                other => other.to_string(),
            },
        })
}

const CLIENT_CERT_HINT: &str = "the JobManager refused the client certificate flink-monitor sent, or its absence (Flink's security.ssl.rest.authentication-enabled): give one issued by a CA in the JobManager's truststore with --flink-client-cert and --flink-client-key";

/// What rustls' words mean for a user, by a fragment of the failure's text.
const HINTS: [(&str, &str); 8] = [
    (
        "UnknownIssuer",
        "the JobManager's certificate is not issued by a CA flink-monitor trusts: give that CA with --flink-ca-file",
    ),
    (
        "NotValidForName",
        "the JobManager's certificate does not name the host of the cluster's URL",
    ),
    (
        "certificate expired",
        "the JobManager's certificate has expired (or this host's clock is wrong)",
    ),
    ("alert: BadCertificate", CLIENT_CERT_HINT),
    ("alert: CertificateRequired", CLIENT_CERT_HINT),
    ("alert: CertificateUnknown", CLIENT_CERT_HINT),
    ("alert: UnknownCA", CLIENT_CERT_HINT),
    (
        "alert: CertificateExpired",
        "the JobManager says flink-monitor's client certificate has expired: renew the files of --flink-client-cert and --flink-client-key",
    ),
];

/// A failed TLS handshake with what to do about it added ("UnknownIssuer" alone does not
/// say); other errors as they are.
pub(super) fn explain(error: FlinkError) -> FlinkError {
    let with_hint = |reason: String| match HINTS.iter().find(|(seen, _)| reason.contains(seen)) {
        Some((_, hint)) => format!("{reason} ({hint})"),
        None => reason,
    };
    match error {
        FlinkError::Connect { url, reason } => FlinkError::Connect {
            url,
            reason: with_hint(reason),
        },
        FlinkError::Request { url, reason } => FlinkError::Request {
            url,
            reason: with_hint(reason),
        },
        other => other,
    }
}

/// reqwest's builder errors say "builder error"; the reason is in the sources.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
    }

    /// A directory of its own under the system's temp dir, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("flink-monitor-tls-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }

        /// ca.crt, client.crt and client.key as the fixtures have them.
        fn good_files(&self) -> TlsFiles {
            TlsFiles {
                ca_file: Some(self.write("ca.crt", &fixture("ca.crt"))),
                client_cert: Some(self.write("tls.crt", &fixture("client.crt"))),
                client_key: Some(self.write("tls.key", &fixture("client.key"))),
            }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn start_error(files: TlsFiles) -> String {
        TlsReloader::start(files).unwrap_err().to_string()
    }

    /// Starting with `files` fails with an error that starts with `start` and contains
    /// each of `parts`.
    fn assert_refused(files: TlsFiles, start: &str, parts: &[&str]) {
        let error = start_error(files);
        assert!(error.starts_with(start), "{error}");
        for part in parts {
            assert!(error.contains(part), "{part:?} in {error}");
        }
    }

    #[test]
    fn handshake_failures_say_which_flag_to_give() {
        let connect = |reason: &str| FlinkError::Connect {
            url: "https://jm:8081/jobs/overview".into(),
            reason: reason.into(),
        };
        let shown = |reason: &str| explain(connect(reason)).to_string();
        let unknown_ca = shown("client error (Connect): invalid peer certificate: UnknownIssuer");
        assert!(
            unknown_ca.starts_with("failed to connect to https://jm:8081/jobs/overview: ")
                && unknown_ca.ends_with("give that CA with --flink-ca-file)"),
            "{unknown_ca}"
        );
        let refused = shown("client error (Connect): received fatal alert: BadCertificate");
        assert!(
            refused.contains("with --flink-client-cert and --flink-client-key"),
            "{refused}"
        );
        assert_eq!(
            shown("tcp connect error: Connection refused"),
            "failed to connect to https://jm:8081/jobs/overview: tcp connect error: Connection refused"
        );
        let status = FlinkError::Status {
            url: "u".into(),
            status: 500,
            message: "UnknownIssuer".into(),
        };
        assert_eq!(explain(status.clone()).to_string(), status.to_string());
    }

    #[test]
    fn no_files_is_the_plain_client() {
        let reloader = TlsReloader::start(TlsFiles::default()).unwrap();
        assert!(!reloader.watches_files());
    }

    #[test]
    fn a_ca_and_a_matching_client_certificate_load() {
        let dir = Dir::new();
        let reloader = TlsReloader::start(dir.good_files()).unwrap();
        assert!(reloader.watches_files());
        let ca_only = TlsFiles {
            ca_file: Some(dir.0.join("ca.crt")),
            ..TlsFiles::default()
        };
        TlsReloader::start(ca_only).unwrap();
    }

    #[test]
    fn a_missing_file_names_the_flag_and_the_path() {
        let dir = Dir::new();
        let files = TlsFiles {
            ca_file: Some(dir.0.join("nowhere.crt")),
            ..TlsFiles::default()
        };
        assert_refused(
            files,
            "cannot read --flink-ca-file ",
            &["nowhere.crt", "No such file"],
        );
    }

    #[test]
    fn a_key_without_a_certificate_and_the_reverse_are_refused() {
        let dir = Dir::new();
        let good = dir.good_files();
        let key_only = TlsFiles {
            client_cert: None,
            ..good.clone()
        };
        assert_eq!(
            start_error(key_only),
            "--flink-client-key needs --flink-client-cert as well (a client certificate and its key go together)"
        );
        let cert_only = TlsFiles {
            client_key: None,
            ..good
        };
        assert_refused(
            cert_only,
            "--flink-client-cert needs --flink-client-key",
            &[],
        );
    }

    #[test]
    fn bad_pem_is_an_error_naming_the_file() {
        let dir = Dir::new();
        let mut files = dir.good_files();
        // Text without any PEM block (e.g. the key given as the CA by mistake).
        files.ca_file = Some(dir.write("ca.crt", b"just some text\n"));
        assert_refused(files.clone(), "--flink-ca-file ", &["holds no certificate"]);
        // A certificate block whose base64 is broken.
        let broken = b"-----BEGIN CERTIFICATE-----\nMII*not base64*\n-----END CERTIFICATE-----\n";
        files.ca_file = Some(dir.write("ca.crt", broken));
        assert_refused(files.clone(), "--flink-ca-file ", &["is not valid PEM"]);
        // Well-formed PEM around bytes that are no X.509 certificate.
        let garbage = b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        files.ca_file = Some(dir.write("ca.crt", garbage));
        assert_refused(
            files.clone(),
            "--flink-ca-file ",
            &["certificate 1 cannot be a trust anchor"],
        );
        // The key given as the client certificate.
        let mut files = dir.good_files();
        files.client_cert = Some(dir.write("tls.crt", &fixture("client.key")));
        assert_refused(files, "--flink-client-cert ", &["holds no certificate"]);
    }

    #[test]
    fn the_key_file_must_hold_exactly_the_certificate_s_key() {
        let dir = Dir::new();
        let mut files = dir.good_files();
        files.client_key = Some(dir.write("tls.key", &fixture("client.crt")));
        assert_refused(
            files.clone(),
            "--flink-client-key ",
            &["holds no private key"],
        );
        let two = [fixture("client.key"), fixture("other.key")].concat();
        files.client_key = Some(dir.write("tls.key", &two));
        assert_refused(
            files.clone(),
            "--flink-client-key ",
            &["holds 2 private keys"],
        );
        files.client_key = Some(dir.write("tls.key", &fixture("other.key")));
        assert_refused(
            files,
            "--flink-client-cert ",
            &[
                "--flink-client-key ",
                "cannot be used together",
                "the private key is not the one the certificate was issued for",
            ],
        );
    }

    #[test]
    fn a_bad_new_file_keeps_the_previous_material_and_a_good_one_replaces_it() {
        let dir = Dir::new();
        let files = dir.good_files();
        let mut reloader = TlsReloader::start(files).unwrap();
        assert!(!reloader.reload_if_changed().unwrap(), "nothing changed");
        // A rotation that writes a key of another certificate: refused, old material kept.
        dir.write("tls.key", &fixture("other.key"));
        let error = reloader.reload_if_changed().unwrap_err().to_string();
        assert!(error.contains("cannot be used together"), "{error}");
        assert_eq!(reloader.loaded.key, Some(fixture("client.key")));
        // The file restored: nothing to reload, the previous material never left.
        dir.write("tls.key", &fixture("client.key"));
        assert!(!reloader.reload_if_changed().unwrap());
        // A new good CA bundle (two CAs): reloaded.
        let bundle = [fixture("ca.crt"), fixture("client.crt")].concat();
        dir.write("ca.crt", &bundle);
        assert!(reloader.reload_if_changed().unwrap());
        assert_eq!(reloader.loaded.ca, Some(bundle));
        // A file that disappears mid-rotation is an error, not a reload without it.
        std::fs::remove_file(dir.0.join("ca.crt")).unwrap();
        let error = reloader.reload_if_changed().unwrap_err().to_string();
        assert!(error.starts_with("cannot read --flink-ca-file"), "{error}");
    }
}
