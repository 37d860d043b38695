//! The endpoint over a real socket: `/metrics` in OpenMetrics text that the reference parser
//! accepts, `/healthz`, `/readyz` following its readiness, 404 elsewhere; and a busy port is a
//! bind error naming the address.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use telemetry::prometheus_client::registry::Registry;
use telemetry::scrape::{self, Lint};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn serves_metrics_health_and_readiness() {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(telemetry::process::ProcessCollector::default()));
    let ready = Arc::new(AtomicBool::new(false));
    let r = ready.clone();
    let ep = telemetry::Endpoint {
        registry,
        ready: Some(Box::new(move || r.load(Ordering::Relaxed))),
    };
    let listener = telemetry::bind("127.0.0.1", 0).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let task = tokio::spawn(telemetry::serve(listener, Arc::new(ep), stop.clone()));

    let text = scrape::metrics(&addr).await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(scrape::value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(
        scrape::value(&text, "process_cpu_seconds_total").is_some(),
        "{text}"
    );
    match scrape::lint(&text) {
        Lint::Ok(n) => assert_eq!(n, telemetry::process::METRICS.len()),
        Lint::Skipped(why) => eprintln!("SKIPPED lint: {why}"),
        Lint::Refused(e) => panic!("the reference parser refused the exposition: {e}\n{text}"),
    }
    assert_eq!(scrape::get(&addr, "/healthz").await.unwrap().0, 200);
    assert_eq!(scrape::get(&addr, "/readyz").await.unwrap().0, 503);
    ready.store(true, Ordering::Relaxed);
    assert_eq!(scrape::get(&addr, "/readyz").await.unwrap().0, 200);
    assert_eq!(scrape::get(&addr, "/nope").await.unwrap().0, 404);

    // The port is taken while served: a second bind names it.
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let err = telemetry::bind("127.0.0.1", port).await.unwrap_err();
    assert!(err.to_string().contains(&addr), "{err}");

    stop.cancel();
    task.await.unwrap();
}

#[test]
fn the_lint_refuses_a_broken_exposition() {
    let Some(py) = scrape::lint_python() else {
        eprintln!("SKIPPED: no Python with prometheus_client");
        return;
    };
    let bad = "# TYPE x counter\nx_total{a=\"1\" 3\n# EOF\n";
    assert!(matches!(scrape::lint_with(&py, bad), Lint::Refused(_)));
}
