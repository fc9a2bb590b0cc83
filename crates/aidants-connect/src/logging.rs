//! Logs: `tracing` events as JSON lines (production) or readable text (development), filtered
//! by `RUST_LOG`. Requests are logged by the web crate with their request id; no event carries
//! a secret (code, token, seed) or an identité pivot field.
//!
//! What the HTTP/1 layer (actix-http) says when it refuses a malformed request is counted in
//! `/metrics` (`ac_http_protocol_errors_total`) and never written: anyone can send such
//! requests, and one ERROR line each would let anyone fill the log.

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,actix_server=warn";

/// Whether an event is the HTTP/1 layer refusing a request (its warnings and errors).
fn is_protocol_refusal(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("actix_http::h1") && *metadata.level() <= Level::WARN
}

/// Counts the HTTP/1 layer's refusals in the metrics.
struct CountProtocolRefusals;

impl<S: Subscriber> Layer<S> for CountProtocolRefusals {
    fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {
        web::count_protocol_error();
    }
}

/// Lets every event through but the HTTP/1 layer's refusals.
struct WithoutProtocolRefusals;

impl<S> Filter<S> for WithoutProtocolRefusals {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: &Context<'_, S>) -> bool {
        !is_protocol_refusal(metadata)
    }
}

/// Installs the process-wide subscriber writing to `writer`; fails if one is installed.
pub fn install<W>(json: bool, writer: W) -> anyhow::Result<()>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    let lines = if json {
        lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        lines.boxed()
    };
    tracing_subscriber::registry()
        .with(CountProtocolRefusals.with_filter(filter_fn(is_protocol_refusal)))
        .with(
            lines
                .with_filter(WithoutProtocolRefusals)
                .with_filter(filter),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!(e))
}
