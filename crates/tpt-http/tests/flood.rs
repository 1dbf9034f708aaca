//! Header floods against the one engine thread (hardening issue, failure 1): reading a head
//! costs CPU linear in its bytes whatever their shape, and while a server floods, a request's
//! own timeout fires on time and a bystander request to a healthy server is answered promptly.
//!
//! Its own test binary: the engine thread is shared by the whole process, and its CPU time is
//! what is measured, so nothing else may run on it meanwhile (one test function, steps in
//! order).

use std::time::{Duration, Instant};
use tpt_http::spec::RequestSpec;
use tpt_http::{Client, Config, News};
use tpt_http_testserver::{ScriptedServer, Server, Step};

/// The engine thread's CPU time (user + system) so far, from /proc.
fn engine_cpu() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "tpt-http-engine" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).expect("stat");
        // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm end") + 2..]
            .split(' ')
            .collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // /proc counts in USER_HZ, which Linux fixes at 100 per second.
        return Duration::from_millis(ticks * 10);
    }
    panic!("no tpt-http-engine thread");
}

struct Got {
    status: u16,
    reason: Option<String>,
    elapsed: Duration,
}

/// Start `spec` on `client`; the watcher's outcome once done (panics after 20 s).
fn run(client: &Client, spec: RequestSpec) -> Got {
    let news = News::new();
    let started = Instant::now();
    let watcher = client.start(spec, Some(news.clone()));
    while !watcher.is_done() {
        assert!(started.elapsed() < Duration::from_secs(20), "hung");
        news.wait(Some(Duration::from_millis(20)));
    }
    let elapsed = started.elapsed();
    let outcome = watcher.take().expect("an outcome");
    Got {
        status: outcome.status,
        reason: outcome.failure.map(|f| f.reason().to_string()),
        elapsed,
    }
}

fn client() -> Client {
    Client::new(Config {
        enforce_https: false,
        ..Config::default()
    })
    .expect("client")
}

/// The input: 4,000 short headers, then 75,000 lines `z` (about 256 KiB in all), sent
/// in small writes. It used to cost 4-9 s of engine CPU; libcurl (and now we) fail it at the
/// first line that is not a CRLF header line.
fn colonless_flood(line: &[u8]) -> Vec<Step> {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..4000 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    for _ in 0..75_000 {
        head.extend_from_slice(line);
    }
    head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    head.chunks(1024).map(|c| Step::Send(c.to_vec())).collect()
}

#[test]
fn header_floods_cost_linear_cpu_and_stop_no_timer() {
    let client = client();
    let healthy = Server::http();
    // Warm up (the engine thread starts with the first request).
    assert_eq!(
        run(
            &client,
            RequestSpec::get(format!("{}/bytes/1", healthy.base_url()))
        )
        .status,
        200
    );

    // 1. The colon-less floods (bare LF and CRLF lines): refused at once, for little CPU.
    for line in [&b"z\n"[..], b"z\r\n"] {
        let server = ScriptedServer::start(colonless_flood(line));
        let cpu = engine_cpu();
        let got = run(&client, RequestSpec::get(format!("{}/", server.base_url())));
        let spent = engine_cpu() - cpu;
        assert_eq!(got.status, 600, "{:?}", got.reason);
        assert!(got.elapsed < Duration::from_secs(2), "took {:?}", got.elapsed);
        println!(
            "colon-less flood {line:?}: engine CPU {spent:?}, {:?}",
            got.elapsed
        );
        assert!(spent < Duration::from_millis(300), "engine CPU {spent:?}");
    }

    // 2. A head that never ends, dripped in small writes (valid short lines, about 160 KiB/s,
    // so the 300 KiB head limit is not reached within the timeout): the request's own
    // 1 s timeout fires on time, a bystander to a healthy server is answered promptly, and the
    // engine's CPU stays small.
    let mut steps = vec![Step::Send(b"HTTP/1.1 200 OK\r\n".to_vec())];
    for i in 0..4000 {
        steps.push(Step::Send(format!("X-{i}: v\r\n").into_bytes()));
    }
    steps.push(Step::Repeat {
        bytes: b"z: \r\n".repeat(160),
        every: Duration::from_millis(5),
        for_at_most: Duration::from_secs(30),
    });
    let server = ScriptedServer::start(steps);
    let cpu = engine_cpu();
    let (flooded, bystander_took) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            let mut spec = RequestSpec::get(format!("{}/", server.base_url()));
            spec.timeout = Some(Duration::from_secs(1));
            run(&client, spec)
        });
        // The bystander starts while the flood is on (once the flood's head has begun).
        let begun = Instant::now();
        while server.steps_done() < 100 {
            assert!(begun.elapsed() < Duration::from_secs(5), "the flood never began");
            std::thread::yield_now();
        }
        let bystander = run(
            &client,
            RequestSpec::get(format!("{}/bytes/10", healthy.base_url())),
        );
        assert_eq!(bystander.status, 200, "{:?}", bystander.reason);
        assert!(
            bystander.elapsed < Duration::from_millis(500),
            "bystander waited {:?}",
            bystander.elapsed
        );
        (flood.join().expect("flood thread"), bystander.elapsed)
    });
    let spent = engine_cpu() - cpu;
    println!(
        "drip: engine CPU {spent:?}, timeout after {:?}, bystander took {:?}",
        flooded.elapsed, bystander_took
    );
    assert_eq!(flooded.status, 605, "{:?}", flooded.reason);
    assert!(
        flooded.elapsed >= Duration::from_secs(1) && flooded.elapsed < Duration::from_millis(2000),
        "timeout fired after {:?}",
        flooded.elapsed
    );
    assert!(
        spent < Duration::from_millis(500),
        "engine CPU {spent:?} for about 200 KiB of head"
    );
}
