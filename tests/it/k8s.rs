//! The Kubernetes manifests in deploy/k8s validate against the Kubernetes schema
//! (`kubernetes-validate` from PyPI, installed into target/ on first use).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const VALIDATOR: &str = "kubernetes-validate==1.37.0";

/// The validator's path, installing it once per test process. The tests in this
/// file run in parallel, so the install sits behind a `OnceLock`: two threads
/// creating the same venv at once fail with "File exists".
fn validator() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(install_validator)
}

fn install_validator() -> PathBuf {
    let venv = common::root().join("target/k8s-venv");
    let bin = venv.join("bin/kubernetes-validate");
    if !bin.exists() {
        // `--clear` rebuilds a venv left half-made by an interrupted run.
        let ok = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .map(|s| s.success());
        assert_eq!(
            ok.ok(),
            Some(true),
            "python3 -m venv failed (install python3-venv)"
        );
        let ok = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                VALIDATOR,
            ])
            .status()
            .map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "pip install {VALIDATOR} failed");
    }
    bin
}

fn validate(files: &[&Path]) -> (bool, String) {
    let o = Command::new(validator())
        .arg("--strict")
        .args(files)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn manifests_are_valid_and_complete() {
    let dir = common::root().join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, out) = validate(&refs);
    assert!(ok, "{out}");
    for kind in [
        "deployment/stance",
        "service/stance",
        "horizontalpodautoscaler/stance",
    ] {
        assert!(out.contains(kind), "{kind} missing: {out}");
    }
    // A volume claimed but defined nowhere leaves its pod pending once the folder is applied.
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for claim in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("claimName:"))
        {
            let pvc = format!("persistentvolumeclaim/{}", claim.trim());
            assert!(
                out.contains(&pvc),
                "{} claims {pvc}, not defined in deploy/k8s/: {out}",
                file.display()
            );
        }
    }
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    for probe in [
        "path: /readyz",
        "path: /healthz",
        "port: probes",
        "containerPort: 9090",
        "STANCE_PROBE_BIND",
        "resources:",
        "readOnly: true",
    ] {
        assert!(deployment.contains(probe), "{probe}");
    }
}

#[test]
fn the_validator_rejects_a_broken_manifest() {
    let t = tempfile::tempdir().unwrap();
    let broken = t.path().join("broken.yaml");
    let text = std::fs::read_to_string(common::root().join("deploy/k8s/deployment.yaml"))
        .unwrap()
        .replace("replicas: 2", "replicas: two");
    std::fs::write(&broken, text).unwrap();
    let (ok, out) = validate(&[&broken]);
    assert!(!ok, "a string replica count must fail: {out}");
}
