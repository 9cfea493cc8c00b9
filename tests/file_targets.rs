//! What FealTY writes on the local disk: only its owner can read it (the data directory, the
//! database, backups, restores), and a relative `file:` target means the directory of whoever
//! typed it, also when the running server does the work.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{BIN, TestServer, ok};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// `dir` and every directory under it are 0700, every other entry 0600.
fn assert_owner_only(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{} is {:o}", dir.display(), mode(dir));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_owner_only(&path);
        } else {
            assert_eq!(
                mode(&path),
                0o600,
                "{} is {:o}",
                path.display(),
                mode(&path)
            );
        }
    }
}

/// `fealty ARGS` run in `cwd`, without the caller's `FEALTY_*` settings.
fn fealty_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("FEALTY_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().unwrap()
}

#[test]
fn files_are_owner_only_whoever_made_the_directory() {
    let root = tempfile::tempdir().unwrap();
    // A data directory made readable by all, holding what an older version left readable.
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("acme")).unwrap();
    std::fs::write(data.join("acme").join("cached_cert_x"), "key").unwrap();
    for (p, m) in [(&data, 0o755), (&data.join("acme"), 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    std::fs::set_permissions(
        data.join("acme").join("cached_cert_x"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let mut server = TestServer::start_in(&data);
    assert!(data.join("fealty.redb").exists());
    assert_owner_only(&data);

    // Made by the server through the control socket.
    let backups = root.path().join("backups");
    let target = format!("file:{}", backups.to_str().unwrap());
    ok(&server.cli(&["backup", "--to", &target]));
    assert!(std::fs::read_dir(&backups).unwrap().count() > 0);
    assert_owner_only(&backups);
    server.stop();

    let restored = root.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&fealty_in(
        root.path(),
        &[
            "restore",
            "--from",
            &target,
            "--data",
            restored.to_str().unwrap(),
        ],
    ));
    assert!(restored.join("fealty.redb").exists());
    assert_owner_only(&restored);
}

#[test]
fn a_relative_file_target_is_under_the_cli_working_directory() {
    let server = TestServer::start();
    let cli_cwd = tempfile::tempdir().unwrap();
    let relative = format!("fealty-relative-target-{}", std::process::id());
    let out = fealty_in(
        cli_cwd.path(),
        &[
            "backup",
            "--data",
            server.data_dir().to_str().unwrap(),
            "--to",
            &format!("file:{relative}/nightly"),
        ],
    );
    // The server runs in this test's directory: anything it put there is removed again.
    let misplaced = Path::new(&relative);
    let server_side = misplaced.exists();
    let _ = std::fs::remove_dir_all(misplaced);
    ok(&out);
    assert!(
        !server_side,
        "the backup went to the server's working directory"
    );
    let wanted = cli_cwd.path().join(&relative).join("nightly");
    let files = std::fs::read_dir(&wanted).map(|d| d.count()).unwrap_or(0);
    assert!(
        files > 0,
        "no backup under the CLI's directory {}",
        wanted.display()
    );
}
