//! Bounded label values shared by the metrics (`telemetry`) and the traces (`otel`): a leaf, so
//! neither of those modules needs the other for them.

/// The HTTP method as a bounded label: the standard ones by name, anything invented `_OTHER`
/// (a client must not be able to mint metric series, or span names, at will).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}
