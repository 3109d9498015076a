//! The head of an HTTP/1.1 answer, for the benchmarks' hand-written clients (included with
//! `#[path]` by `blocking` and `viewers`).

/// Status and Content-Length of an answer's head (the bytes before the blank line).
pub fn response_head(head: &[u8]) -> (u16, Option<usize>) {
    let text = String::from_utf8_lossy(head);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len = text.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .and_then(|v| v.trim().parse().ok())
    });
    (status, len)
}
