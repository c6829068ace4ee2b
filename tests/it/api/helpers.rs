//! Spawning the real `stance serve` on an ephemeral port and talking to it over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub use crate::common::{copy_dir, reference_essay, root};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-admin-token";

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub models: PathBuf,
    pub logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a private copy of the shipped models.
    pub fn start(extra: &[&str]) -> Server {
        Self::start_limited(extra, None)
    }

    /// Like [`Server::start`], with the process's data segment (heap and anonymous mappings)
    /// capped at `data_limit` bytes: an allocation past it fails and the process aborts.
    pub fn start_limited(extra: &[&str], data_limit: Option<u64>) -> Server {
        Self::start_with(extra, data_limit, &[])
    }

    /// The general form: flags, an optional data limit and environment variables.
    pub fn start_with(extra: &[&str], data_limit: Option<u64>, envs: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        copy_dir(&root().join("models"), &models);
        let mut args = vec![
            "serve".to_string(),
            "--bind".into(),
            "127.0.0.1:0".into(),
            "--models".into(),
            models.display().to_string(),
            "--workers".into(),
            "2".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut cmd = crate::common::stance();
        if let Some(limit) = data_limit {
            crate::common::limit_data(&mut cmd, limit);
        }
        cmd.envs(envs.iter().copied());
        let mut child = cmd
            .args(&args)
            .env_remove("STANCE_ADMIN_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let addr = announced_address(&line);
                // The line is in the logs before the address is announced, so that a test
                // reading the logs right after start-up (`listening`) always finds it.
                sink.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server announces its address");
        Server {
            child,
            base: format!("http://{addr}"),
            models,
            logs,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        wait_child(&mut self.child, within).and_then(|status| status.code())
    }

    /// Every address the server announced it listens on, in order (`--bind` first, then
    /// `--probe-bind`), as `http://host:port`.
    pub fn listening(&self) -> Vec<String> {
        let logs = self.logs.lock().unwrap();
        let line = logs
            .iter()
            .find_map(|l| l.split("listening on ").nth(1))
            .expect("the server announced its addresses");
        line.split(", ")
            .take_while(|a| a.starts_with("http://"))
            .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The log once `done` holds for it, or as it is after `within`: the lines reach the test
    /// through a reader thread, which can lag behind the responses when the machine is busy, so
    /// a test that checks a line logged for a request it has already had answered waits for it.
    pub fn log_when(&self, done: impl Fn(&str) -> bool, within: Duration) -> String {
        let end = std::time::Instant::now() + within;
        loop {
            let logs = self.log_text();
            if done(&logs) || std::time::Instant::now() >= end {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `host:port` a start-up log line announces the main listener on, if it is that line.
pub fn announced_address(line: &str) -> Option<String> {
    let rest = line.split("listening on http://").nth(1)?;
    Some(
        rest.chars()
            .take_while(|c| !matches!(c, ',' | ' '))
            .collect(),
    )
}

/// A child process killed when dropped, so that a failing test leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `within` for `child` to exit: its status, or None if it is still running (a hang
/// guard, not a timing measurement).
pub fn wait_child(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Trains a new version into `models` (CURRENT moves to it). Reload tests exercise publishing
/// and swapping, not quality, so the small three-label corpus stands in for the shipped one.
pub fn retrain(models: &Path, extra: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    crate::common::small_corpus(data.path());
    crate::common::train(data.path(), models, extra);
    std::fs::read_to_string(models.join("CURRENT"))
        .unwrap()
        .trim()
        .to_string()
}
