//! The command line: directly on a data directory and through a running server's control socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    ALL_SCOPES, Api, TestServer, api_key, card_number, cli, cli_stdin, fails, fresh_key, key_id, ok,
};
use serde_json::{Value, json};

/// One `apikey list` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyLine {
    id: String,
    name: String,
    scopes: HashSet<String>,
    state: String,
}

fn key_lines(out: &str) -> Vec<KeyLine> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                f.len(),
                4,
                "apikey list line is not 4 tab-separated fields: {l:?}"
            );
            KeyLine {
                id: f[0].to_owned(),
                name: f[1].to_owned(),
                scopes: f[2].split(',').map(str::to_owned).collect(),
                state: f[3].to_owned(),
            }
        })
        .collect()
}

fn find<'a>(lines: &'a [KeyLine], id: &str) -> &'a KeyLine {
    lines
        .iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("key {id} not listed: {lines:?}"))
}

fn scopes(list: &[&str]) -> HashSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_verify_ok(out: &std::process::Output, entries: usize, members: usize) -> String {
    let text = ok(out);
    let line = text.trim();
    assert!(
        line.starts_with(&format!("ok: {entries} entries, {members} member")),
        "verify printed {line:?}, expected `ok: {entries} entries, {members} members`"
    );
    text
}

#[tokio::test]
async fn apikey_create_list_revoke_direct_and_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Directly on the data directory.
    let alpha = api_key(d, "alpha", &[]);
    let beta = api_key(d, "beta", &["members:read", "points:write"]);
    assert_ne!(key_id(&alpha), key_id(&beta));
    fails(&cli(
        d,
        &[
            "apikey",
            "create",
            "--name",
            "bad",
            "--scope",
            "members:delete",
        ],
    ));

    let listed = ok(&cli(d, &["apikey", "list"]));
    let lines = key_lines(&listed);
    assert_eq!(lines.len(), 2, "{listed}");
    let a = find(&lines, key_id(&alpha));
    assert_eq!(a.name, "alpha");
    assert_eq!(a.scopes, scopes(&ALL_SCOPES));
    assert_eq!(a.state, "active");
    let b = find(&lines, key_id(&beta));
    assert_eq!(b.name, "beta");
    assert_eq!(b.scopes, scopes(&["members:read", "points:write"]));
    assert_eq!(b.state, "active");

    ok(&cli(d, &["apikey", "revoke", key_id(&beta)]));
    fails(&cli(d, &["apikey", "revoke", "ffffffffffff"]));
    let direct_list = ok(&cli(d, &["apikey", "list"]));
    assert_eq!(
        find(&key_lines(&direct_list), key_id(&beta)).state,
        "revoked"
    );
    assert_eq!(
        find(&key_lines(&direct_list), key_id(&alpha)).state,
        "active"
    );

    // Through the control socket: same output, and the server sees changes at once.
    let mut server = TestServer::start_in(d);
    assert!(
        d.join("control.sock").exists(),
        "no control.sock while serving"
    );
    assert_eq!(ok(&server.cli(&["apikey", "list"])), direct_list);
    let api = server.client_with(&alpha);
    api.get("/members").await.expect_status(200);
    api.with_key(&beta)
        .get("/members")
        .await
        .expect_problem(401, "unauthorized");

    let gamma = server.api_key_with("gamma", &["settings:write"]);
    let gamma_api = api.with_key(&gamma);
    gamma_api.get("/settings").await.expect_status(200);
    gamma_api
        .get("/members")
        .await
        .expect_problem(403, "forbidden");
    fails(&server.cli(&["apikey", "create", "--name", "bad", "--scope", "nope"]));

    ok(&server.cli(&["apikey", "revoke", key_id(&gamma)]));
    gamma_api
        .get("/settings")
        .await
        .expect_problem(401, "unauthorized");
    fails(&server.cli(&["apikey", "revoke", "ffffffffffff"]));

    let served_list = ok(&server.cli(&["apikey", "list"]));
    let lines = key_lines(&served_list);
    assert_eq!(lines.len(), 3, "{served_list}");
    let g = find(&lines, key_id(&gamma));
    assert_eq!((g.name.as_str(), g.state.as_str()), ("gamma", "revoked"));
    assert_eq!(g.scopes, scopes(&["settings:write"]));

    server.stop();
    assert_eq!(ok(&cli(d, &["apikey", "list"])), served_list);
}

fn add_user(
    server: &TestServer,
    username: &str,
    role: &str,
    password: &str,
) -> std::process::Output {
    server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    )
}

#[test]
fn user_add_and_the_setup_link() {
    let mut server = TestServer::start();
    let link = server
        .wait_for_stdout("setup link: ", Duration::from_secs(5))
        .expect("a fresh server prints a setup link");
    let url = link.trim().strip_prefix("setup link: ").unwrap();
    let prefix = format!("http://{}/setup/", server.addr());
    assert!(
        url.starts_with(&prefix) && url.len() > prefix.len(),
        "setup link {url:?}"
    );

    // Staff is not an owner: the setup link stays.
    ok(&add_user(
        &server,
        "till1",
        "staff",
        "correct horse battery",
    ));
    fails(&add_user(&server, "till2", "staff", "short"));
    assert!(
        !add_user(&server, "till3", "janitor", "correct horse battery")
            .status
            .success()
    );
    fails(&add_user(
        &server,
        "till1",
        "staff",
        "another long password",
    ));
    server.restart();
    assert!(
        server
            .wait_for_stdout("setup link: ", Duration::from_secs(5))
            .is_some(),
        "no owner yet, but no setup link: {:?}",
        server.stdout_lines()
    );

    ok(&add_user(
        &server,
        "boss",
        "owner",
        "a very long owner password",
    ));
    fails(&add_user(
        &server,
        "boss",
        "owner",
        "a very long owner password",
    ));
    server.restart();
    std::thread::sleep(Duration::from_millis(500));
    let lines = server.stdout_lines();
    assert!(
        !lines.iter().any(|l| l.contains("setup link")),
        "setup link printed although an owner exists: {lines:?}"
    );

    // Directly, with no server.
    server.stop();
    let d = server.data_dir();
    let direct = |username: &str| {
        cli_stdin(
            d,
            &[
                "user",
                "add",
                "--username",
                username,
                "--role",
                "staff",
                "--password-stdin",
            ],
            "yet another long password\n",
        )
    };
    ok(&direct("till9"));
    fails(&direct("till9"));
    fails(&direct("boss"));
}

#[tokio::test]
async fn verify_passes_on_a_busy_ledger() {
    let mut server = TestServer::start();
    let api = server.client();
    let mut members = Vec::new();
    for i in 0..4 {
        let m = api
            .create_member(&json!({"name": format!("Busy {i}")}))
            .await;
        members.push(m["id"].as_str().unwrap().to_owned());
    }
    let mut entries = 0;
    let mut earns = Vec::new();
    for round in 0..12 {
        for (i, id) in members.iter().enumerate() {
            let r = api.earn(id, 10 + i as i64).await;
            earns.push(r["entry"]["seq"].as_i64().unwrap());
            entries += 1;
            let body = match round % 3 {
                0 => json!({"kind": "redeem", "points": 3}),
                1 => json!({"kind": "adjust", "points": 2, "reason": "bonus"}),
                _ => json!({"kind": "earn", "amount_minor": 1234}),
            };
            api.transaction(id, &fresh_key(), &body)
                .await
                .expect_status(201);
            entries += 1;
        }
    }
    for seq in earns.iter().step_by(5) {
        api.post_idem(
            &format!("/transactions/{seq}/reverse"),
            &fresh_key(),
            &json!({}),
        )
        .await
        .expect_status(201);
        entries += 1;
    }

    let through_socket = assert_verify_ok(&server.cli(&["verify"]), entries, 4);
    server.stop();
    let direct = assert_verify_ok(&cli(server.data_dir(), &["verify"]), entries, 4);
    assert_eq!(through_socket, direct);
}

#[tokio::test]
async fn verify_names_a_tampered_entry() {
    let mut server = TestServer::start();
    let api = server.client();
    let id = api.create_member(&json!({"name": "Victim"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut seqs = Vec::new();
    for p in 1..=5 {
        seqs.push(
            api.earn(&id, p * 10).await["entry"]["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_verify_ok(&server.cli(&["verify"]), 5, 1);
    server.stop();

    let target = seqs[2];
    common::tamper(server.data_dir(), target);

    let out = cli(server.data_dir(), &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify after tampering: stdout {:?} stderr {:?}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let line = fails(&out);
    assert!(
        line.contains(&format!("entry {target}")),
        "verify should name entry {target}: {line:?}"
    );
}

#[tokio::test]
async fn export_json_and_csv() {
    let mut server = TestServer::start();
    let api = server.client();
    let specs = [
        ("Smith, Jane", Some("jane@example.com"), 40),
        ("Bob \"The Builder\"", None, 0),
        ("Ünïcode Ñame", Some("u@example.org"), 7),
    ];
    let mut want: HashMap<String, (Value, i64)> = HashMap::new();
    for (name, email, points) in specs {
        let m = api
            .create_member(&json!({"name": name, "email": email}))
            .await;
        let id = m["id"].as_str().unwrap().to_owned();
        if points > 0 {
            api.earn(&id, points).await;
        }
        want.insert(id, (m, points));
    }
    let id0 = want
        .iter()
        .find(|(_, (_, p))| *p == 40)
        .map(|(id, _)| id.clone())
        .unwrap();
    api.transaction(&id0, &fresh_key(), &json!({"kind": "redeem", "points": 15}))
        .await
        .expect_status(201);
    want.get_mut(&id0).unwrap().1 = 25;

    // JSON.
    let json_out = ok(&server.cli(&["export", "--format", "json"]));
    let doc: Value = serde_json::from_str(&json_out).expect("export json is JSON");
    let members = doc["members"].as_array().expect("members array");
    assert_eq!(members.len(), 3);
    for m in members {
        let id = m["id"].as_str().unwrap();
        let (created, balance) = &want[id];
        assert_eq!(m["balance"], *balance, "{m}");
        assert_eq!(m["name"], created["name"]);
        assert_eq!(m["email"], created["email"]);
        assert_eq!(m["card_number"], created["card_number"]);
    }
    let ledger = doc["ledger"].as_array().expect("ledger array");
    assert_eq!(ledger.len(), 3);
    let sum: i64 = ledger.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(sum, 32);
    assert!(
        ledger
            .iter()
            .all(|e| e["hash"].is_string() && e["seq"].is_u64())
    );

    // CSV.
    let csv_out = ok(&server.cli(&["export", "--format", "csv"]));
    assert_eq!(
        csv_out.lines().next(),
        Some("id,card_number,name,email,phone,status,balance,lifetime_earned,created_at")
    );
    let mut reader = csv::Reader::from_reader(csv_out.as_bytes());
    let mut rows = 0;
    for rec in reader.records() {
        let rec = rec.expect("a CSV record");
        assert_eq!(rec.len(), 9, "{rec:?}");
        let (created, balance) = &want[&rec[0]];
        assert_eq!(&rec[1], created["card_number"].as_str().unwrap());
        assert_eq!(&rec[2], created["name"].as_str().unwrap());
        assert_eq!(&rec[3], created["email"].as_str().unwrap_or(""));
        assert_eq!(&rec[5], "active");
        assert_eq!(rec[6].parse::<i64>().unwrap(), *balance);
        let earned: i64 = if *balance == 25 { 40 } else { *balance };
        assert_eq!(rec[7].parse::<i64>().unwrap(), earned);
        assert!(!rec[8].is_empty());
        rows += 1;
    }
    assert_eq!(rows, 3);
    assert!(!server.cli(&["export", "--format", "xml"]).status.success());

    // Directly, with the server stopped: the same bytes.
    server.stop();
    let d = server.data_dir();
    assert_eq!(ok(&cli(d, &["export", "--format", "json"])), json_out);
    assert_eq!(ok(&cli(d, &["export", "--format", "csv"])), csv_out);
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn exported(dir: &Path) -> Value {
    serde_json::from_str(&ok(&cli(dir, &["export", "--format", "json"]))).unwrap()
}

#[tokio::test]
async fn import_good_file_then_bad_files() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let d = data.path();
    let card = card_number(71_234_567_890);

    let good = write_file(
        files.path(),
        "good.csv",
        &format!(
            "name,email,phone,card_number,balance\n\
             Grace Hopper,Grace@Navy.mil,+1 555 0100,{card},120\n\
             \"Lovelace, Ada\",ada@example.com,,,\n\
             Linus,,+358 40 1234567,,\n"
        ),
    );
    let out = ok(&cli(d, &["import", &good]));
    assert_eq!(out.trim(), "imported 3 members");

    let doc = exported(d);
    let members = doc["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let by_name = |n: &str| {
        members
            .iter()
            .find(|m| m["name"] == n)
            .unwrap_or_else(|| panic!("{n} not imported: {doc}"))
    };
    let grace = by_name("Grace Hopper");
    assert_eq!(grace["card_number"], card.as_str());
    assert_eq!(grace["email"], "grace@navy.mil");
    assert_eq!(grace["balance"], 120);
    let ada = by_name("Lovelace, Ada");
    assert_eq!(ada["balance"], 0);
    assert!(common::luhn_ok(ada["card_number"].as_str().unwrap()));
    assert!(by_name("Linus")["email"].is_null());
    let ledger = doc["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{doc}");
    assert_eq!(ledger[0]["kind"], "adjust");
    assert_eq!(ledger[0]["points"], 120);
    assert_eq!(ledger[0]["member_id"], grace["id"]);

    // Bad rows: nothing at all is imported.
    let mut wrong_card = card_number(81_234_567_890);
    let last = wrong_card.pop().unwrap();
    wrong_card.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    let bad_files = [
        (
            format!(
                "name,email,phone,card_number,balance\n\
                 Good Row,good@example.com,,,5\n\
                 Bad Card,bad@example.com,,{wrong_card},\n\
                 Other,other@example.com,,,7\n"
            ),
            3,
        ),
        (
            "name,email,phone,card_number,balance\n\
             Negative,neg@example.com,,,-5\n"
                .to_owned(),
            2,
        ),
        (
            "name,email,phone,card_number,balance\n\
             Fine,fine@example.com,,,1\n\
             Also Fine,,,,2\n\
             Copycat,GRACE@navy.mil,,,\n"
                .to_owned(),
            4,
        ),
        (
            "name,email,phone,card_number,balance\n\
             Fine,fine@example.com,,,1\n\
             Not A Number,nan@example.com,,,lots\n"
                .to_owned(),
            3,
        ),
        (
            format!(
                "name,email,phone,card_number,balance\n\
                 Fine,fine@example.com,,,1\n\
                 Same Card,,,{card},\n"
            ),
            3,
        ), // A blank row is refused, not imported as a member with no details.
        (
            "name,email,phone,card_number,balance\n\
             Fine,fine@example.com,,,1\n\
             ,,,,\n"
                .to_owned(),
            3,
        ),
    ];
    for (i, (text, line)) in bad_files.iter().enumerate() {
        let path = write_file(files.path(), &format!("bad{i}.csv"), text);
        let err = fails(&cli(d, &["import", &path]));
        assert!(
            err.contains(&format!("Line {line}")),
            "bad file {i}: stderr should name line {line}: {err:?}"
        );
        assert_eq!(exported(d), doc, "bad file {i} changed the data");
    }

    // An explicit zero balance is fine and needs no entry.
    let zero = write_file(
        files.path(),
        "zero.csv",
        "name,email,phone,card_number,balance\nZero,zero@example.com,,,0\n",
    );
    assert_eq!(ok(&cli(d, &["import", &zero])).trim(), "imported 1 members");
    let after = exported(d);
    assert_eq!(after["members"].as_array().unwrap().len(), 4);
    assert_eq!(after["ledger"].as_array().unwrap().len(), 1);

    // Through the running server: the API sees the new members at once.
    let server = TestServer::start_in(d);
    let api = server.client();
    let more = write_file(
        files.path(),
        "more.csv",
        "name,email,phone,card_number,balance\nServed One,s1@example.com,,,10\nServed Two,,,,\n",
    );
    assert_eq!(
        ok(&server.cli(&["import", &more])).trim(),
        "imported 2 members"
    );
    let list = api.get("/members?q=served").await.expect_status(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let one = items.iter().find(|m| m["name"] == "Served One").unwrap();
    assert_eq!(one["balance"], 10);
    let bad = write_file(
        files.path(),
        "served-bad.csv",
        "name,email,phone,card_number,balance\nServed Three,,,,\nServed Four,s1@example.com,,,\n",
    );
    let err = fails(&server.cli(&["import", &bad]));
    assert!(err.contains("Line 3"), "{err:?}");
    let list = api.get("/members?q=served").await.expect_status(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    const WRITERS: usize = 3;
    const PER_WRITER: i64 = 100;
    const KILL_AFTER: usize = 100;

    let mut server = TestServer::start();
    let key = server.api_key();
    let api = server.client_with(&key);
    let id = api.create_member(&json!({"name": "Durable"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // (seq, points, balance) of every acknowledged earn; and anything unexpected.
    let acked: Arc<Mutex<Vec<(i64, i64, i64)>>> = Arc::default();
    let odd: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (api, id, acked, odd) = (api.clone(), id.clone(), acked.clone(), odd.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let points = i % 7 + 1;
                let req = api
                    .request(
                        reqwest::Method::POST,
                        &format!("/members/{id}/transactions"),
                    )
                    .header("Idempotency-Key", format!("durable-{w}-{i}"))
                    .json(&json!({"kind": "earn", "points": points}));
                match Api::try_send(req).await {
                    Ok(r) if r.status == 201 => {
                        let v = r.json();
                        assert_eq!(v["entry"]["points"], points);
                        acked.lock().unwrap().push((
                            v["entry"]["seq"].as_i64().unwrap(),
                            points,
                            v["balance"].as_i64().unwrap(),
                        ));
                    }
                    Ok(r) => {
                        odd.lock()
                            .unwrap()
                            .push(format!("{}: {}", r.status, r.text));
                        return;
                    }
                    // The server is gone.
                    Err(_) => return,
                }
            }
        }));
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let n = acked.lock().unwrap().len();
        if n >= KILL_AFTER || writers.iter().all(|w| w.is_finished()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {n} acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill9();
    for w in writers {
        w.await.expect("writer task");
    }
    let odd = odd.lock().unwrap().clone();
    assert!(odd.is_empty(), "unexpected responses: {odd:?}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= KILL_AFTER,
        "only {} acknowledged",
        acked.len()
    );
    assert!(
        acked.len() < WRITERS * PER_WRITER as usize,
        "every request finished before the kill; nothing was in flight"
    );

    // Restart on the same directory (a stale control socket may be left behind).
    server.restart();
    let api = server.client_with(&key);
    let entries = api.all_transactions(&id, 100).await;
    let by_seq: HashMap<i64, &Value> = entries
        .iter()
        .map(|e| (e["seq"].as_i64().unwrap(), e))
        .collect();
    assert_eq!(by_seq.len(), entries.len(), "duplicate seqs after restart");
    for (seq, points, _) in &acked {
        let e = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("acknowledged entry {seq} lost after kill -9"));
        assert_eq!(e["points"], *points, "entry {seq}");
        assert_eq!(e["member_id"], id.as_str());
    }
    let balance = api.balance(&id).await;
    let sum_entries: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    let sum_acked: i64 = acked.iter().map(|(_, p, _)| p).sum();
    let max_acked_balance = acked.iter().map(|(_, _, b)| *b).max().unwrap();
    assert_eq!(
        balance, sum_entries,
        "balance is not the sum of the entries"
    );
    assert!(
        balance >= sum_acked,
        "balance {balance} < acknowledged {sum_acked}"
    );
    assert!(balance >= max_acked_balance);
    assert_eq!(entries[0]["balance_after"], balance);

    // The restarted server works, and the chain verifies through its control socket.
    let after = api.earn(&id, 1).await;
    assert_eq!(after["balance"], balance + 1);
    assert_verify_ok(&server.cli(&["verify"]), entries.len() + 1, 1);
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    api_key(d, "first", &[]);
    fails(&cli(d, &["export", "--format", "xml"]));
    fails(&cli_stdin(
        d,
        &[
            "user",
            "add",
            "--username",
            "u",
            "--role",
            "janitor",
            "--password-stdin",
        ],
        "correct horse battery\n",
    ));
    fails(&cli(
        d,
        &["apikey", "create", "--name", "x", "--scope", "all"],
    ));
    fails(&cli(d, &["apikey", "revoke", "nope"]));
    // The database cache: a size with a unit, never below what works.
    let small = fails(&cli(d, &["apikey", "list", "--cache-size", "1MiB"]));
    assert!(small.contains("at least 4 MiB"), "{small}");
    let word = fails(&cli(d, &["verify", "--cache-size", "lots"]));
    assert!(word.contains("64MiB"), "{word}");
    let listed = ok(&cli(d, &["apikey", "list", "--cache-size", "8MiB"]));
    assert!(listed.contains("first"), "{listed}");
}

/// An import file of `rows` members, each with long details and an opening balance, so the
/// export grows quickly with the rows.
fn fat_import(dir: &Path, rows: usize) -> String {
    let mut text = String::from("name,email,balance\n");
    for i in 0..rows {
        text.push_str(&format!(
            "Member {i} {},m{i}.{}@{}.{}.example.com,{}\n",
            "N".repeat(80),
            "e".repeat(50),
            "d".repeat(60),
            "f".repeat(60),
            1 + i % 900
        ));
    }
    write_file(dir, "fat.csv", &text)
}

/// The control socket answers an export as a run of bounded stdout frames (kind `o`, a 4-byte
/// length, the bytes) and then the exit frame (`x`), not as one reply line holding it all: a
/// caller that stops reading holds the server back rather than making it buffer, and the bytes
/// are those the command line writes.
#[tokio::test]
async fn the_control_socket_streams_an_export_in_bounded_frames() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let d = data.path();
    let file = fat_import(files.path(), 3_000);
    ok(&cli(d, &["import", &file]));
    let server = TestServer::start_in(d);
    let whole = server.cli(&["export", "--format", "json"]).stdout;
    assert!(whole.len() > 1 << 20, "{} bytes", whole.len());

    let mut socket =
        std::os::unix::net::UnixStream::connect(d.join("control.sock")).expect("control socket");
    socket
        .write_all(b"{\"cmd\":\"export\",\"format\":\"json\"}\n")
        .unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
    let mut read_frame = || {
        let mut head = [0u8; 5];
        socket.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len];
        socket.read_exact(&mut body).unwrap();
        (head[0], body)
    };
    let first = read_frame();
    // Not reading on for a while costs the server nothing: it waits, and still serves.
    assert_eq!(server.client().get("/healthz").await.status, 200);
    let mut out = Vec::new();
    let mut stdout_frames = 0;
    let mut frame = first;
    loop {
        match frame.0 {
            b'o' => {
                assert!(
                    frame.1.len() <= 1 << 20,
                    "a frame of {} bytes",
                    frame.1.len()
                );
                out.extend_from_slice(&frame.1);
                stdout_frames += 1;
            }
            b'p' | b'e' => {}
            b'x' => {
                assert_eq!(frame.1, 0i32.to_be_bytes(), "exit code 0");
                break;
            }
            other => panic!("unknown frame kind {other}"),
        }
        frame = read_frame();
    }
    assert!(
        stdout_frames > 1,
        "the export came in {stdout_frames} frame(s)"
    );
    assert!(
        out == whole,
        "the streamed bytes differ from the command line's"
    );
}

/// Runs `command` under a pseudo-terminal (util-linux `script`); what the terminal showed,
/// whatever the command's exit code.
fn on_a_terminal(command: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Long commands draw progress on a terminal (an export only when its data goes elsewhere), and
/// off a terminal print their one result line and nothing on stderr; both directly and
/// through a running server.
#[test]
fn long_commands_show_progress_on_a_terminal_and_stay_quiet_in_a_pipe() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let d = data.path();
    let ds = d.to_str().unwrap();
    let file = fat_import(files.path(), 3_000);
    let bin = env!("CARGO_BIN_EXE_fealty");
    let exported = files.path().join("out.csv");
    let ex = exported.to_str().unwrap();
    for through_server in [false, true] {
        let server = through_server.then(|| TestServer::start_in(d));
        // Quiet off a terminal: the result line alone.
        if !through_server {
            let imported = cli(d, &["import", &file]);
            assert_eq!(common::stdout(&imported), "imported 3000 members\n");
            assert!(imported.stderr.is_empty(), "{imported:?}");
        }
        let verified = cli(d, &["verify"]);
        assert_eq!(common::stdout(&verified).lines().count(), 1, "{verified:?}");
        assert!(verified.stderr.is_empty(), "{verified:?}");
        let csv_out = cli(d, &["export", "--format", "csv"]);
        assert!(csv_out.stderr.is_empty(), "{csv_out:?}");

        // On a terminal: the bar's text, then the same result line.
        let shown = on_a_terminal(&format!("{bin} verify --data {ds}"));
        assert!(shown.contains("verify ["), "{shown}");
        assert!(shown.contains("ok: "), "{shown}");
        let shown = on_a_terminal(&format!("{bin} export --format csv --data {ds} > {ex}"));
        assert!(shown.contains("export ["), "{shown}");
        let written = std::fs::read(&exported).unwrap();
        assert_eq!(written, csv_out.stdout, "progress stays out of the data");
        // Every row is taken already: the bar, then the refusal.
        let shown = on_a_terminal(&format!("{bin} import --data {ds} {file}"));
        assert!(shown.contains("import: checking ["), "{shown}");
        assert!(shown.contains("already in use"), "{shown}");
        drop(server);
    }
}
