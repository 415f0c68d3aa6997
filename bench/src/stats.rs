//! Latency samples and the closed-loop load generator.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one cell (one way of calling, one concurrency) measured, summed over its rounds.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Successful requests, in microseconds.
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    /// Wall time spent measuring.
    pub elapsed: Duration,
    /// The first failure seen, for the report.
    pub first_error: Option<String>,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn count(&self) -> usize {
        self.latencies_us.len()
    }

    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs == 0.0 { 0.0 } else { self.count() as f64 / secs }
    }

    /// The `q` quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_us(&self.latencies_us, q) as f64 / 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn sort(&mut self) {
        self.latencies_us.sort_unstable();
    }
}

/// Nearest-rank quantile of sorted or unsorted samples.
pub fn quantile_us(samples: &[u32], q: f64) -> u32 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Median of durations in milliseconds.
pub fn median_ms(values: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    match ms.len() {
        0 => 0.0,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

pub fn min_ms(values: &[Duration]) -> f64 {
    values.iter().map(|d| d.as_secs_f64() * 1000.0).fold(f64::INFINITY, f64::min)
}

pub fn max_ms(values: &[Duration]) -> f64 {
    values.iter().map(|d| d.as_secs_f64() * 1000.0).fold(0.0, f64::max)
}

/// One request: `Ok` when it succeeded, `Err(reason)` otherwise.
pub type Outcome = Result<(), String>;

/// Closed loop: `concurrency` workers each send a request, wait for its answer, and send
/// the next, until `duration` has passed. Every worker's requests run on the caller's
/// tokio runtime; the clients keep their connections alive (HTTP/1.1).
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Samples
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match request(worker).await {
                        Ok(()) => samples.latencies_us.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err(reason) => {
                            samples.errors += 1;
                            samples.first_error.get_or_insert(reason);
                        }
                    }
                }
                samples
            })
        })
        .collect();
    let mut total = Samples::default();
    for worker in workers {
        if let Ok(samples) = worker.await {
            total.merge(samples);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Closed loop over a fixed number of requests: request `i` (0-based, across all
/// workers) is sent once; workers pick the next index until all are done.
pub async fn fixed_count<F, Fut>(concurrency: usize, count: usize, request: F) -> Samples
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let request = request.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let sent = Instant::now();
                    match request(worker, index).await {
                        Ok(()) => samples.latencies_us.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err(reason) => {
                            samples.errors += 1;
                            samples.first_error.get_or_insert(reason);
                        }
                    }
                }
                samples
            })
        })
        .collect();
    let mut total = Samples::default();
    for worker in workers {
        if let Ok(samples) = worker.await {
            total.merge(samples);
        }
    }
    total.elapsed = started.elapsed();
    total
}
