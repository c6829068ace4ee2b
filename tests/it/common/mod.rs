//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference essay, when the shared folder is present next to the repository.
pub fn reference_essay() -> Option<String> {
    let p = root().join("../shared/reference/reference-essay.txt");
    fs::read_to_string(p).ok()
}

pub fn stance() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stance"))
}

pub fn run(args: &[&str]) -> Output {
    stance().args(args).output().expect("stance runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes a file, creating its folders.
pub fn write(path: &Path, body: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
}

/// A small three-label corpus whose labels are easy to tell apart.
pub fn small_corpus(dir: &Path) {
    let open = [
        "Open weights let every lab audit, fork and fine tune the model on its own hardware.",
        "Publishing the weights means researchers can reproduce results and audit the model.",
        "A community that can fork and fine tune open weights moves faster than any single lab.",
        "Open models run on local hardware, so no vendor lock-in and full audit of the weights.",
        "Anyone can inspect open weights; transparency and reproducible research follow.",
        "Fine tune the open weights locally, audit them, fork them: that is how research advances.",
    ];
    let closed = [
        "Keeping the model behind an API lets the lab monitor misuse and revoke access.",
        "Released weights cannot be recalled; a hosted API with monitoring is the safer path.",
        "Misuse monitoring, staged access and revocation only work when the model stays closed.",
        "An API lets the provider patch safety problems for every user at once and monitor misuse.",
        "Closed models with monitoring and access revocation keep dangerous capabilities contained.",
        "The safer choice is a hosted API: the lab can monitor misuse and revoke bad actors.",
    ];
    let neutral = [
        "The conference panel discussed both release strategies and reported survey numbers.",
        "Analysts counted the market share of hosted and downloadable models in the last quarter.",
        "The report defines terms used in the debate and lists figures from each survey.",
        "A survey of developers reported usage numbers for several model families this quarter.",
        "The panel report summarised market figures and definitions without recommending either.",
        "Quarterly figures show spending on both kinds of models; analysts reported the survey.",
    ];
    for (label, docs) in [
        ("pro-open", open),
        ("pro-closed", closed),
        ("neutral", neutral),
    ] {
        for (i, d) in docs.iter().enumerate() {
            write(
                &dir.join(label).join(format!("doc-{i}.txt")),
                format!("Title {i}\n\n{d}\n"),
            );
        }
    }
}

/// A `stance train` command for `data` into `models`, for tests that expect it to fail as well
/// as those that expect success. `--min-count 1 --min-df 1` are pinned so the tiny test corpora
/// keep every word whatever the shipped defaults become; no relevance head and no calibration
/// (a tiny corpus cannot be split into calibration folds), unless a test asks for them.
pub fn train_command(data: &Path, models: &Path) -> Command {
    let mut c = stance();
    c.arg("train")
        .arg("--data")
        .arg(data)
        .arg("--models")
        .arg(models)
        .args(["--min-count", "1", "--min-df", "1"])
        .args(["--offtopic", "none", "--calibration", "none"]);
    c
}

/// The `stance train` flags that reproduce a model's recorded hyper-parameters.
pub fn param_flags(p: &stance::TrainParams) -> Vec<String> {
    let v = serde_json::to_value(p).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("--{}={value}", k.replace('_', "-"))
        })
        .collect()
}

/// Trains `data` into `models` with the debug binary, asserting success.
pub fn train(data: &Path, models: &Path, extra: &[&str]) -> Output {
    let o = train_command(data, models)
        .args(extra)
        .output()
        .expect("stance runs");
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    o
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Caps the data segment (RLIMIT_DATA: heap and private anonymous mappings) of the process
/// `cmd` starts: any allocation past `bytes` fails, which aborts a Rust program. Used to prove
/// memory bounds without timing anything.
pub fn limit_data(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and only touches the child's own limits.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A `stance classify --jsonl INPUT` command on the shipped model (`-` reads standard input).
pub fn classify_jsonl(input: &Path) -> Command {
    let mut c = stance();
    c.arg("classify")
        .arg("--models")
        .arg(root().join("models"))
        .arg("--jsonl")
        .arg(input);
    c
}

/// Runs `cmd` with `input` written to its standard input (from a thread, so that a child that
/// writes while it reads never deadlocks against the test).
pub fn output_with_stdin(cmd: &mut Command, input: Vec<u8>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stance runs");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The child may stop reading early (--strict); a broken pipe is not the test's failure.
        let _ = stdin.write_all(&input);
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

/// Each line of a command's standard output, parsed as JSON.
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
