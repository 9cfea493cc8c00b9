//! Peak memory (VmHWM) of the long commands on 100,000 members and 1,000,000 entries: JSON and
//! CSV exports, an import of 100,000 rows and `verify`, each run by the command line alone and
//! through a running server (then the server's peak too), beside the target of 150 MB.
//!
//! `FEALTY_BENCH_BIN=path` measures another build of the binary (an older one, to compare);
//! `FEALTY_BENCH_SEEDED=DIR` keeps the seeded data directory and reuses it (copied per run).

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "proc.rs"]
mod proc;
#[path = "seed.rs"]
mod seed;

use fealty::storage;
use seed::{ENTRIES, MEMBERS, copy_data};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ceiling for each long command's peak resident memory.
const TARGET_MB: f64 = 150.0;
/// Rows in each import file.
const IMPORT_ROWS: usize = 100_000;

/// Runs the binary with stdout to `out`, sampling its peak until it exits.
fn run(bin: &str, args: &[&str], out: &Path) -> (Duration, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, top) = proc::wait_sampling_peak(&mut child, Duration::from_millis(5));
    let took = start.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{args:?}: {err}");
    (took, top, err)
}

/// A CSV file of `IMPORT_ROWS` new members with opening balances, emails unique by `tag`.
fn import_file(path: &Path, tag: &str) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "name,email,phone,balance").unwrap();
    for i in 0..IMPORT_ROWS {
        writeln!(
            f,
            "Imported Member {i},{tag}{i}@import.example,+44 20 7946 {:04},{}",
            i % 10_000,
            i % 500
        )
        .unwrap();
    }
    f.flush().unwrap();
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn line(what: &str, took: Duration, cli: u64, server: Option<u64>) {
    let server = server.map_or(String::new(), |s| {
        format!(
            "; server {:6.1} MB ({:.2}x the target)",
            mb(s),
            mb(s) / TARGET_MB
        )
    });
    println!(
        "{what:<28} {:6.1} s; command {:6.1} MB ({:.2}x the target of {TARGET_MB:.0} MB){server}",
        took.as_secs_f64(),
        mb(cli),
        mb(cli) / TARGET_MB,
    );
}

/// Starts `fealty serve` on `data` and waits for its control socket.
fn serve(bin: &str, data: &str) -> Child {
    let child = Command::new(bin)
        .args(["serve", "--data", data, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = Path::new(data).join(fealty::control::SOCKET_FILE);
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[tokio::main]
async fn main() {
    let built = env!("CARGO_BIN_EXE_fealty").to_owned();
    let bin = std::env::var("FEALTY_BENCH_BIN").unwrap_or(built);
    let dir = tempfile::tempdir().unwrap();
    let (seeded, took) = seed::seeded(dir.path()).await;
    if !took.is_zero() {
        println!(
            "seeded {MEMBERS} members and {ENTRIES} entries in {:.1} s",
            took.as_secs_f64()
        );
    }
    println!(
        "binary {bin}; database {:.0} MB; {MEMBERS} members, {ENTRIES} entries; import files of {IMPORT_ROWS} rows",
        mb(std::fs::metadata(seeded.join(storage::DB_FILE))
            .unwrap()
            .len())
    );
    let out = dir.path().join("out");
    let size = |p: &Path| mb(std::fs::metadata(p).unwrap().len());

    println!("-- the command line alone (no server running)");
    let direct = dir.path().join("direct");
    copy_data(&seeded, &direct);
    let d = direct.to_str().unwrap();
    // Open once first: a repair or compaction on first open is not what is measured.
    run(&bin, &["verify", "--data", d], &out);
    // What opening the database costs alone (mostly its page cache, `--cache-size`).
    let (took, cli, _) = run(&bin, &["apikey", "list", "--data", d], &out);
    line("open alone (apikey list)", took, cli, None);
    for format in ["json", "csv"] {
        let (took, cli, _) = run(&bin, &["export", "--format", format, "--data", d], &out);
        line(
            &format!("export {format} ({:.0} MB)", size(&out)),
            took,
            cli,
            None,
        );
    }
    let file = dir.path().join("direct.csv");
    import_file(&file, "direct");
    let (took, cli, _) = run(&bin, &["import", "--data", d, file.to_str().unwrap()], &out);
    line("import", took, cli, None);
    let (took, cli, _) = run(&bin, &["verify", "--data", d], &out);
    line("verify", took, cli, None);

    println!("-- through a running server");
    let online = dir.path().join("online");
    copy_data(&seeded, &online);
    let d = online.to_str().unwrap();
    let mut server = serve(&bin, d);
    let pid = server.id();
    println!("server started: {:.1} MB", mb(proc::vm_hwm(pid)));
    let file = dir.path().join("online.csv");
    import_file(&file, "online");
    let steps: [(&str, Vec<&str>); 4] = [
        (
            "export json",
            vec!["export", "--format", "json", "--data", d],
        ),
        ("export csv", vec!["export", "--format", "csv", "--data", d]),
        (
            "import",
            vec!["import", "--data", d, file.to_str().unwrap()],
        ),
        ("verify", vec!["verify", "--data", d]),
    ];
    for (what, args) in steps {
        proc::reset_hwm(pid);
        let (took, cli, _) = run(&bin, &args, &out);
        let name = if what.starts_with("export") {
            format!("{what} ({:.0} MB)", size(&out))
        } else {
            what.to_owned()
        };
        line(&name, took, cli, Some(proc::vm_hwm(pid)));
    }
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    );
    let _ = server.wait();
}
