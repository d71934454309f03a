//! Where audit records go: a file (one JSON object per line, appended) or standard output,
//! which carries nothing else (the operator logs to standard error).

use std::{
    fs::OpenOptions,
    io::{self, LineWriter, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::Deserialize;

use super::Record;

/// `audit` in the configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditFile {
    /// A file the records are appended to.
    pub path: Option<PathBuf>,
    /// Write the records to standard output.
    pub stdout: Option<bool>,
}

/// Where records go, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Destination {
    /// Records are not kept.
    #[default]
    Off,
    File(PathBuf),
    Stdout,
}

/// Why the audit settings are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("path and stdout are exclusive: records go to one place")]
    Both,
    #[error("path must not be empty")]
    EmptyPath,
}

impl AuditFile {
    pub fn validate(self) -> Result<Destination, SettingError> {
        match (self.path, self.stdout.unwrap_or(false)) {
            (Some(_), true) => Err(SettingError::Both),
            (Some(path), false) if path.as_os_str().is_empty() => Err(SettingError::EmptyPath),
            (Some(path), false) => Ok(Destination::File(path)),
            (None, true) => Ok(Destination::Stdout),
            (None, false) => Ok(Destination::Off),
        }
    }
}

/// Why the sink could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening the audit file {path}: {source}")]
pub struct OpenError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The open destination. Records are written in the order they are given, each on its own line.
pub struct Sink {
    writer: Option<Mutex<Box<dyn Write + Send>>>,
}

impl Sink {
    /// A sink that keeps nothing.
    pub fn off() -> Self {
        Self { writer: None }
    }

    pub fn open(destination: &Destination) -> Result<Self, OpenError> {
        let writer: Box<dyn Write + Send> = match destination {
            Destination::Off => return Ok(Self::off()),
            Destination::Stdout => Box::new(LineWriter::new(io::stdout())),
            Destination::File(path) => Box::new(LineWriter::new(append(path)?)),
        };
        Ok(Self { writer: Some(Mutex::new(writer)) })
    }

    /// A sink writing into `writer`, for tests.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self { writer: Some(Mutex::new(Box::new(writer))) }
    }

    pub fn is_on(&self) -> bool {
        self.writer.is_some()
    }

    /// Writes the records. A record that cannot be written is logged with the error; the
    /// operator goes on, and the count of lost records is returned for the metrics.
    pub fn write(&self, records: &[Record]) -> usize {
        let Some(writer) = &self.writer else { return 0 };
        let mut writer = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut lost = 0;
        for record in records {
            let written = serde_json::to_writer(&mut *writer, record)
                .map_err(io::Error::from)
                .and_then(|()| writer.write_all(b"\n"));
            if let Err(e) = written {
                lost += 1;
                tracing::error!(error = %e, action = ?record.action, "could not write an audit record");
            }
        }
        if let Err(e) = writer.flush() {
            tracing::error!(error = %e, "could not flush the audit records");
        }
        lost
    }
}

fn append(path: &Path) -> Result<std::fs::File, OpenError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| OpenError { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::audit::{Action, Outcome, Reason};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn settings_pick_one_destination() {
        assert_eq!(AuditFile::default().validate(), Ok(Destination::Off));
        let file: AuditFile = serde_yaml_ng::from_str("path: /var/log/audit.jsonl\n").unwrap();
        assert_eq!(file.validate(), Ok(Destination::File("/var/log/audit.jsonl".into())));
        let out: AuditFile = serde_yaml_ng::from_str("stdout: true\n").unwrap();
        assert_eq!(out.validate(), Ok(Destination::Stdout));
        let both = AuditFile { path: Some("a".into()), stdout: Some(true) };
        assert_eq!(both.validate(), Err(SettingError::Both));
        assert_eq!(AuditFile { path: Some("".into()), stdout: None }.validate(), Err(SettingError::EmptyPath));
        assert!(serde_yaml_ng::from_str::<AuditFile>("file: x\n").is_err(), "unknown keys are refused");
    }

    #[test]
    fn records_are_written_one_per_line() {
        let buffer = Shared::default();
        let sink = Sink::to_writer(buffer.clone());
        let time = Timestamp::from_second(0).unwrap();
        let records = [
            Record::new(time, Action::Create, Outcome::Success, Reason::PodCreated),
            Record::new(time, Action::Delete, Outcome::Held, Reason::MassDeletion),
        ];
        assert_eq!(sink.write(&records), 0);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["outcome"], "held");
        assert!(!Sink::off().is_on());
        assert_eq!(Sink::off().write(&records), 0);
    }

    #[test]
    fn a_file_is_appended_to() {
        let dir = std::env::temp_dir().join(format!("audit-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        std::fs::write(&path, "earlier\n").unwrap();
        let sink = Sink::open(&Destination::File(path.clone())).unwrap();
        let time = Timestamp::from_second(0).unwrap();
        sink.write(&[Record::new(time, Action::Deny, Outcome::Denied, Reason::PolicyDenied)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier\n{\"schemaVersion\""), "{text}");
        let err = Sink::open(&Destination::File(dir.join("missing/audit.jsonl"))).err().unwrap();
        assert!(err.to_string().contains("missing/audit.jsonl"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
