//! W3C trace context across the gateway. A request's span continues the
//! client's trace (its `traceparent`), and the request forwarded to the
//! homeserver names the gateway's span as its parent, so that the
//! homeserver's own spans join the same trace. Without an exporter the
//! gateway's spans have no trace context, and the client's header is
//! passed on as it came.

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of the trace the request's headers name, if any.
pub(crate) fn continue_trace(span: &Span, headers: &HeaderMap) {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(parent);
    }
}

/// Names the current span as the parent of the request about to be sent.
pub(crate) fn pass_on(headers: &mut HeaderMap) {
    let context = Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}
