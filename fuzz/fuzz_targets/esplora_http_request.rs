//! `qtum-esplora`'s HTTP/1.1 request-head parser on bytes, framed the way a worker frames a
//! connection's stream (head up to the blank line, then `Content-Length` bytes of body, then the
//! next pipelined request). A head that parses satisfies the server's rules and parses the same
//! after being written out again in canonical form; a refused one gets one of the statuses the
//! server documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qtum_esplora::http_fuzzing::{head_end, parse_request_head, ParsedHead};
use qtum_esplora::{MAX_BODY_BYTES, MAX_HEAD_BYTES};

fn canonical(head: &ParsedHead) -> Vec<u8> {
    let mut out = format!(
        "{} {} {}",
        head.method,
        head.target,
        if head.http10 { "HTTP/1.0" } else { "HTTP/1.1" }
    );
    if head.content_length > 0 {
        out.push_str(&format!("\r\nContent-Length: {}", head.content_length));
    }
    let mut connection = Vec::new();
    if head.connection_close {
        connection.push("close");
    }
    if head.connection_keep_alive {
        connection.push("keep-alive");
    }
    if !connection.is_empty() {
        out.push_str(&format!("\r\nConnection: {}", connection.join(", ")));
    }
    if head.expect_continue {
        out.push_str("\r\nExpect: 100-continue");
    }
    out.into_bytes()
}

/// A control character other than a tab or the CR LF pairs that end lines.
fn has_stray_control(head: &[u8]) -> bool {
    let mut i = 0;
    while i < head.len() {
        match head[i] {
            b'\r' if head.get(i + 1) == Some(&b'\n') => i += 2,
            b'\t' => i += 1,
            b if b.is_ascii_control() => return true,
            _ => i += 1,
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    // At most a few pipelined requests per input: each one is independent.
    for _ in 0..8 {
        let Some(end) = head_end(rest) else {
            return;
        };
        assert!(end >= 4 && end <= rest.len() && &rest[end - 4..end] == b"\r\n\r\n");
        if end > MAX_HEAD_BYTES {
            return;
        }
        let head = match parse_request_head(&rest[..end - 4], MAX_BODY_BYTES) {
            Ok(head) => head,
            Err(status) => {
                assert!(
                    [400, 411, 413, 417, 431, 505].contains(&status),
                    "undocumented status {status}"
                );
                return;
            }
        };
        // CRLF is the only line end: a head with a bare CR or LF, or another control character
        // but a tab, is refused (a proxy could read its lines differently: request smuggling).
        assert!(
            !has_stray_control(&rest[..end - 4]),
            "a head with a bare CR/LF or a control character was accepted"
        );
        assert!(!head.method.is_empty() && head.method.bytes().all(|b| b.is_ascii_graphic()));
        assert!(head.target.starts_with('/') && head.target.bytes().all(|b| b.is_ascii_graphic()));
        assert!(head.content_length <= MAX_BODY_BYTES);
        let again = parse_request_head(&canonical(&head), MAX_BODY_BYTES);
        assert_eq!(
            again.as_ref(),
            Ok(&head),
            "canonical form parses differently"
        );
        // A smaller body limit only ever turns a success into 413.
        match parse_request_head(&rest[..end - 4], head.content_length.saturating_sub(1)) {
            Ok(h) => assert_eq!(h, head),
            Err(status) => assert!(head.content_length > 0 && status == 413),
        }
        let Some(next) = end
            .checked_add(head.content_length)
            .filter(|n| *n <= rest.len())
        else {
            return;
        };
        rest = &rest[next..];
    }
});
