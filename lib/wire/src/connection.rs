//! Connection files (Jupyter "kernel specs / connection files"): where a kernel listens and how
//! its messages are signed.
//!
//! Reading checks every field this crate needs and names the first missing or bad one; unknown
//! fields (`jupyter_session`, `curve_*`, ...) are ignored. Writing goes to a temp file in the same
//! directory, mode 0600, then a rename, so a reader never sees half a file. A file someone else
//! wrote is only ever read: the kernel never rewrites it.

use std::io::Write;
use std::path::{Path, PathBuf};

use llmspell_common::{ExitCode, HasExitCode};
use serde_json::{Map, Value, json};

use crate::client::Channel;

/// Everything a connection file says.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `tcp` or `ipc`.
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    /// The HMAC key as written; its UTF-8 bytes are the key. Empty means unsigned.
    pub key: String,
    pub signature_scheme: String,
    pub kernel_name: String,
}

impl std::fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("transport", &self.transport)
            .field("ip", &self.ip)
            .field("ports", &self.ports())
            .field("key", &"<hidden>")
            .field("signature_scheme", &self.signature_scheme)
            .field("kernel_name", &self.kernel_name)
            .finish()
    }
}

/// Why a connection file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionFileError {
    #[error("cannot read connection file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("connection file {path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("connection file {path} is not a JSON object")]
    NotObject { path: PathBuf },
    #[error("connection file {path}: field {field:?} is missing")]
    Missing { path: PathBuf, field: &'static str },
    #[error("connection file {path}: field {field:?} is invalid: {reason}")]
    Invalid { path: PathBuf, field: &'static str, reason: String },
    #[error("cannot write connection file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl HasExitCode for ConnectionFileError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ConnectionFileError::Read { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ExitCode::NoInput
            }
            ConnectionFileError::Read { .. } => ExitCode::IoErr,
            ConnectionFileError::Write { .. } => ExitCode::CantCreate,
            _ => ExitCode::Config,
        }
    }
}

impl ConnectionInfo {
    /// A fresh description for `ip` with every port 0 (to be filled in after binding).
    pub fn new(ip: &str, key: String) -> ConnectionInfo {
        ConnectionInfo {
            transport: "tcp".into(),
            ip: ip.into(),
            shell_port: 0,
            iopub_port: 0,
            stdin_port: 0,
            control_port: 0,
            hb_port: 0,
            key,
            signature_scheme: "hmac-sha256".into(),
            kernel_name: "llmspell".into(),
        }
    }

    /// Reads and checks a connection file.
    pub fn read(path: &Path) -> Result<ConnectionInfo, ConnectionFileError> {
        let text = std::fs::read(path)
            .map_err(|source| ConnectionFileError::Read { path: path.into(), source })?;
        let value: Value = serde_json::from_slice(&text)
            .map_err(|source| ConnectionFileError::Json { path: path.into(), source })?;
        let Value::Object(map) = value else {
            return Err(ConnectionFileError::NotObject { path: path.into() });
        };
        Self::from_map(path, &map)
    }

    fn from_map(
        path: &Path,
        map: &Map<String, Value>,
    ) -> Result<ConnectionInfo, ConnectionFileError> {
        let fields = Fields { path, map };
        let transport = fields.string("transport", Some("tcp"))?;
        if transport != "tcp" && transport != "ipc" {
            return Err(fields.invalid("transport", format!("{transport:?} is not tcp or ipc")));
        }
        let signature_scheme = fields.string("signature_scheme", Some("hmac-sha256"))?;
        if signature_scheme != "hmac-sha256" {
            return Err(fields.invalid(
                "signature_scheme",
                format!("{signature_scheme:?} is not supported (only hmac-sha256)"),
            ));
        }
        Ok(ConnectionInfo {
            transport,
            ip: fields.string("ip", None)?,
            shell_port: fields.port("shell_port")?,
            iopub_port: fields.port("iopub_port")?,
            stdin_port: fields.port("stdin_port")?,
            control_port: fields.port("control_port")?,
            hb_port: fields.port("hb_port")?,
            key: fields.string("key", None)?,
            signature_scheme,
            kernel_name: fields.string("kernel_name", Some(""))?,
        })
    }

    /// The file's JSON, every field written.
    pub fn to_json(&self) -> Value {
        json!({
            "transport": self.transport,
            "ip": self.ip,
            "shell_port": self.shell_port,
            "iopub_port": self.iopub_port,
            "stdin_port": self.stdin_port,
            "control_port": self.control_port,
            "hb_port": self.hb_port,
            "key": self.key,
            "signature_scheme": self.signature_scheme,
            "kernel_name": self.kernel_name,
        })
    }

    /// Writes the file atomically with mode 0600 (temp file in the same directory, then rename).
    pub fn write(&self, path: &Path) -> Result<(), ConnectionFileError> {
        let err = |source| ConnectionFileError::Write { path: path.into(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".connection-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(err)?;
        let mut text = serde_json::to_vec_pretty(&self.to_json()).expect("JSON values serialize");
        text.push(b'\n');
        tmp.write_all(&text).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// The ZeroMQ endpoint of a channel, e.g. `tcp://127.0.0.1:5555`.
    pub fn endpoint(&self, channel: Channel) -> String {
        let port = match channel {
            Channel::Shell => self.shell_port,
            Channel::Iopub => self.iopub_port,
            Channel::Stdin => self.stdin_port,
            Channel::Control => self.control_port,
            Channel::Heartbeat => self.hb_port,
        };
        endpoint(&self.transport, &self.ip, port)
    }

    /// Ports as `[shell, iopub, stdin, control, hb]`.
    pub fn ports(&self) -> [u16; 5] {
        [self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port]
    }
}

/// The five ports of a connection file, by channel: what `llmspell-kerneld status --json` and
/// the fleet registry show (as `{"shell": …, "iopub": …, "stdin": …, "control": …, "hb": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ports {
    pub shell: u16,
    pub iopub: u16,
    pub stdin: u16,
    pub control: u16,
    pub hb: u16,
}

impl From<&ConnectionInfo> for Ports {
    fn from(info: &ConnectionInfo) -> Ports {
        Ports {
            shell: info.shell_port,
            iopub: info.iopub_port,
            stdin: info.stdin_port,
            control: info.control_port,
            hb: info.hb_port,
        }
    }
}

/// The endpoint for `port` (0 asks the OS for one: `tcp://ip:*`). For `ipc` the port is a suffix.
pub fn endpoint(transport: &str, ip: &str, port: u16) -> String {
    match (transport, port) {
        ("ipc", port) => format!("ipc://{ip}-{port}"),
        (_, 0) => format!("tcp://{ip}:*"),
        (_, port) => format!("tcp://{ip}:{port}"),
    }
}

struct Fields<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn string(
        &self,
        field: &'static str,
        default: Option<&str>,
    ) -> Result<String, ConnectionFileError> {
        match (self.map.get(field), default) {
            (Some(Value::String(s)), _) => Ok(s.clone()),
            (Some(other), _) => Err(self.invalid(field, format!("expected a string, got {other}"))),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => Err(ConnectionFileError::Missing { path: self.path.into(), field }),
        }
    }

    fn port(&self, field: &'static str) -> Result<u16, ConnectionFileError> {
        let value = self
            .map
            .get(field)
            .ok_or(ConnectionFileError::Missing { path: self.path.into(), field })?;
        value
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| self.invalid(field, format!("{value} is not a port number (0-65535)")))
    }

    fn invalid(&self, field: &'static str, reason: String) -> ConnectionFileError {
        ConnectionFileError::Invalid { path: self.path.into(), field, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "shell_port": 5001, "iopub_port": 5002, "stdin_port": 5003, "control_port": 5004,
            "hb_port": 5005, "ip": "127.0.0.1", "key": "a-b-c", "transport": "tcp",
            "signature_scheme": "hmac-sha256", "kernel_name": "llmspell",
            "jupyter_session": "ignored.ipynb"
        })
    }

    fn write_json(dir: &Path, value: &Value) -> PathBuf {
        let path = dir.join("c.json");
        std::fs::write(&path, value.to_string()).unwrap();
        path
    }

    #[test]
    fn reads_every_field_and_ignores_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let info = ConnectionInfo::read(&write_json(dir.path(), &sample())).unwrap();
        assert_eq!(info.ports(), [5001, 5002, 5003, 5004, 5005]);
        assert_eq!(info.key, "a-b-c");
        assert_eq!(info.endpoint(Channel::Control), "tcp://127.0.0.1:5004");
        assert_eq!(info.kernel_name, "llmspell");
    }

    #[test]
    fn names_the_missing_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut value = sample();
        value.as_object_mut().unwrap().remove("hb_port");
        let err = ConnectionInfo::read(&write_json(dir.path(), &value)).unwrap_err();
        assert!(err.to_string().contains("\"hb_port\" is missing"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::Config);
    }

    #[test]
    fn names_the_bad_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut value = sample();
        value["shell_port"] = json!(70000);
        let err = ConnectionInfo::read(&write_json(dir.path(), &value)).unwrap_err();
        assert!(err.to_string().contains("\"shell_port\" is invalid"), "{err}");
        value["shell_port"] = json!(1);
        value["signature_scheme"] = json!("hmac-md5");
        let err = ConnectionInfo::read(&write_json(dir.path(), &value)).unwrap_err();
        assert!(err.to_string().contains("signature_scheme"), "{err}");
    }

    #[test]
    fn bad_json_and_missing_file_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = ConnectionInfo::read(&path).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Config);
        let err = ConnectionInfo::read(&dir.path().join("absent.json")).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::NoInput);
    }

    #[test]
    fn writes_0600_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels/kernel-x.json");
        let mut info = ConnectionInfo::new("127.0.0.1", "k".into());
        info.shell_port = 1234;
        info.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ConnectionInfo::read(&path).unwrap(), info);
    }
}
