//! Logs: `tracing` events as JSON lines (production) or readable text (development), filtered
//! by `RUST_LOG`. Requests are logged by the web crate with their request id; no event carries
//! a secret (code, token, seed) or an identité pivot field.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,actix_server=warn";

/// Installs the process-wide subscriber writing to `writer`; fails if one is installed.
pub fn install<W>(json: bool, writer: W) -> anyhow::Result<()>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(|e| anyhow::anyhow!(e))
}
