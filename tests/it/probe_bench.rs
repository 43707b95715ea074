//! A quick measurement, not a test (ignored by default): throughput at `--rate max` against a
//! loopback server, compared with `wrk` when it is installed, and the achieved rate and
//! scheduling delay at a fixed 1000 requests/s. Run it in release:
//! `cargo test --release --test it -- --ignored --nocapture probe_bench`.

use std::time::Duration;

use cutover::probe::{self, ProbeOptions, Rate};

use crate::support::probe::{serve, version, Reply};

fn seconds(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

#[test]
#[ignore = "a measurement; run it in release with --ignored --nocapture"]
fn measure_throughput_and_schedule() {
    // The server gets its own runtime and thread, as a separate process would.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let server = server_rt.block_on(serve(|_| Reply::Bytes(version("0.0.1"))));
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("probe runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |opts: ProbeOptions| rt.block_on(probe::run(&opts)).expect("runs");
    let max_for = seconds("PROBE_BENCH_MAX_SECS", 3);

    if which_wrk() {
        let out = std::process::Command::new("wrk")
            .args(["-t1", "-c16", &format!("-d{}s", max_for.as_secs()), &url])
            .output()
            .expect("wrk runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("Requests/sec"))
            .unwrap_or("wrk: no result");
        println!("wrk -t1 -c16 keep-alive: {line}");
    }
    for keep_alive in [true, false] {
        let mut opts = ProbeOptions::new(url.clone());
        opts.rate = Rate::Max;
        opts.concurrency = 16;
        opts.keep_alive = keep_alive;
        opts.duration = Some(max_for);
        opts.results_dir = dir.path().to_path_buf();
        let o = run(opts);
        let s = &o.summary;
        println!(
            "probe --rate max -c16 keep_alive={keep_alive}: {} requests, {} failed, {:.0} requests/s, latency p50 {:.3} ms p99 {:.3} ms",
            s.total,
            s.failed,
            s.start_rate_per_s,
            s.latency_ms.as_ref().map_or(0.0, |p| p.p50),
            s.latency_ms.as_ref().map_or(0.0, |p| p.p99),
        );
    }
    for keep_alive in [false, true] {
        let mut opts = ProbeOptions::new(url.clone());
        opts.rate = Rate::Fixed(1000.0);
        opts.keep_alive = keep_alive;
        opts.duration = Some(seconds("PROBE_BENCH_FIXED_SECS", 5));
        opts.results_dir = dir.path().to_path_buf();
        let o = run(opts);
        let s = &o.summary;
        let d = s
            .sched_delay_ms
            .as_ref()
            .expect("fixed rate records delays");
        println!(
            "probe --rate 1000 keep_alive={keep_alive}: {} requests, {} failed, achieved {:.2}/s ({:+.3}%), sched delay p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms",
            s.total,
            s.failed,
            s.start_rate_per_s,
            (s.start_rate_per_s / 1000.0 - 1.0) * 100.0,
            d.p50,
            d.p99,
            d.p999,
            d.max
        );
    }
    drop(server);
}

fn which_wrk() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}
