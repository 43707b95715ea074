//! The request loop: workers that send requests at a fixed rate (each at an absolute deadline
//! set by a ticker thread, so there is no drift) or as fast as they can, and hand every record
//! to the recorder through a channel.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Mutex, Notify};
use tokio::task::JoinSet;

use super::http::{Client, Exchange, Session};
use super::record::Record;
use super::{ProbeOptions, Rate, StopReason};

/// State shared by the workers, the ticker, the recorder and the driver.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    stop: AtomicBool,
    /// Set by the recorder when the run should end early (version stable, or it cannot write).
    halted: Notify,
    version_stable: AtomicBool,
    /// The next sequence number at `--rate max`.
    seq: AtomicU64,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Ends the run early; `version_stable` says whether it ends because the version is.
    pub(crate) fn halt(&self, version_stable: bool) {
        if version_stable {
            self.version_stable.store(true, Ordering::Relaxed);
        }
        self.stop.store(true, Ordering::Relaxed);
        self.halted.notify_one();
    }
}

/// Maps monotonic instants to wall-clock microseconds, fixed once per run so the recorded
/// times are monotonic too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_unix_us: u64,
}

impl Clock {
    pub(crate) fn now() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base: Instant::now(),
            base_unix_us: u64::try_from(unix.as_micros()).unwrap_or(u64::MAX),
        }
    }

    fn unix_us(&self, t: Instant) -> u64 {
        self.base_unix_us
            .saturating_add(micros(t.saturating_duration_since(self.base)))
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One scheduled request.
struct Tick {
    seq: u64,
    at: Instant,
}

/// Runs the workers until `stop`, the end of the duration, or a halt by the recorder; waits
/// for the requests in flight and returns why it stopped. Dropping every `records` sender on
/// return tells the recorder the run is over.
pub(crate) async fn drive<F>(
    opts: &ProbeOptions,
    client: Arc<Client>,
    clock: Clock,
    records: Sender<Record>,
    shared: Arc<Shared>,
    stop: F,
) -> StopReason
where
    F: Future<Output = ()>,
{
    let start = Instant::now();
    let end = opts.duration.map(|d| start + d);
    let mut workers = JoinSet::new();
    match opts.rate {
        Rate::Max => {
            for _ in 0..opts.concurrency {
                let worker = max_worker(client.clone(), records.clone(), shared.clone(), clock);
                workers.spawn(worker);
            }
        }
        Rate::Fixed(rate) => {
            let (tick_tx, tick_rx) = mpsc::unbounded_channel();
            let ticks = Arc::new(Mutex::new(tick_rx));
            for _ in 0..opts.concurrency {
                let worker = fixed_worker(
                    client.clone(),
                    ticks.clone(),
                    records.clone(),
                    shared.clone(),
                    clock,
                );
                workers.spawn(worker);
            }
            let ticker_shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("probe-ticker".into())
                .spawn(move || ticker(rate, start, end, &ticker_shared, &tick_tx));
            if spawned.is_err() {
                // Without a ticker no request would ever start: end the run at once.
                shared.halt(false);
            }
        }
    }
    drop(records);
    let until_end = async {
        match end {
            Some(end) => tokio::time::sleep_until(end.into()).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        () = stop => StopReason::Interrupted,
        () = until_end => StopReason::Duration,
        () = shared.halted.notified() => if shared.version_stable.load(Ordering::Relaxed) {
            StopReason::VersionStable
        } else {
            StopReason::Interrupted
        },
    };
    shared.stop.store(true, Ordering::Relaxed);
    while workers.join_next().await.is_some() {}
    reason
}

/// Sends one tick per `1/rate` seconds at `start + seq/rate`, however late the previous one
/// went out, until `end` or the stop flag. A plain thread sleeps with microsecond precision
/// where tokio's timer has millisecond ticks.
fn ticker(
    rate: f64,
    start: Instant,
    end: Option<Instant>,
    shared: &Shared,
    ticks: &mpsc::UnboundedSender<Tick>,
) {
    // Sleep in short slices so a stop is noticed quickly even at low rates.
    const SLICE: Duration = Duration::from_millis(20);
    let interval = 1.0 / rate;
    for seq in 0u64.. {
        // `seq as f64` is exact far beyond any run's length.
        #[allow(clippy::cast_precision_loss)]
        let offset = Duration::try_from_secs_f64(seq as f64 * interval).unwrap_or(Duration::MAX);
        let Some(at) = start.checked_add(offset) else {
            return;
        };
        if end.is_some_and(|end| at >= end) {
            return;
        }
        loop {
            if shared.stopped() {
                return;
            }
            let now = Instant::now();
            if now >= at {
                break;
            }
            std::thread::sleep((at - now).min(SLICE));
        }
        if ticks.send(Tick { seq, at }).is_err() {
            return;
        }
    }
}

async fn fixed_worker(
    client: Arc<Client>,
    ticks: Arc<Mutex<mpsc::UnboundedReceiver<Tick>>>,
    records: Sender<Record>,
    shared: Arc<Shared>,
    clock: Clock,
) {
    let mut session = Session::default();
    loop {
        let tick = ticks.lock().await.recv().await;
        let Some(tick) = tick else { return };
        if shared.stopped() {
            return;
        }
        let started = Instant::now();
        let exchange = client.send(&mut session).await;
        let delay = micros(started.saturating_duration_since(tick.at));
        let record = to_record(tick.seq, started, Some(delay), exchange, clock);
        if records.send(record).is_err() {
            return;
        }
    }
}

async fn max_worker(
    client: Arc<Client>,
    records: Sender<Record>,
    shared: Arc<Shared>,
    clock: Clock,
) {
    let mut session = Session::default();
    while !shared.stopped() {
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let exchange = client.send(&mut session).await;
        let record = to_record(seq, started, None, exchange, clock);
        if records.send(record).is_err() {
            return;
        }
    }
}

fn to_record(
    seq: u64,
    started: Instant,
    sched_delay_us: Option<u64>,
    ex: Exchange,
    clock: Clock,
) -> Record {
    Record {
        seq,
        start_unix_us: clock.unix_us(started),
        sched_delay_us,
        latency_us: micros(ex.done.into_std().saturating_duration_since(started)),
        kind: ex.kind,
        status: ex.status,
        version: ex.version,
        detail: ex.detail,
        retried: ex.retried,
    }
}
