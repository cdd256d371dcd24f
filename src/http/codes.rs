//! Status codes and their reason phrases: the IANA registry as Node.js's
//! `http.STATUS_CODES` has it, 509 included, so that `http.codes` reads
//! the same as in Node.

const STATUS_CODES: &[(u16, &str)] = &[
    (100, "Continue"),
    (101, "Switching Protocols"),
    (102, "Processing"),
    (103, "Early Hints"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Payload Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (418, "I'm a Teapot"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
    (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"),
    (508, "Loop Detected"),
    (509, "Bandwidth Limit Exceeded"),
    (510, "Not Extended"),
    (511, "Network Authentication Required"),
];

/// Every known code with its reason phrase, in ascending order: what the
/// Lua layer puts in `http.codes`.
pub fn codes() -> impl Iterator<Item = (u16, &'static str)> {
    STATUS_CODES.iter().copied()
}

/// The reason phrase of a known code.
pub fn reason_phrase(code: u16) -> Option<&'static str> {
    STATUS_CODES.binary_search_by_key(&code, |&(known, _)| known).ok().map(|index| STATUS_CODES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_without_duplicates_so_binary_search_finds_every_code() {
        assert!(STATUS_CODES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (code, reason) in codes() {
            assert_eq!(reason_phrase(code), Some(reason));
        }
    }

    #[test]
    fn known_and_unknown_codes() {
        assert_eq!(codes().count(), 63);
        assert_eq!(reason_phrase(200), Some("OK"));
        assert_eq!(reason_phrase(418), Some("I'm a Teapot"));
        assert_eq!(reason_phrase(431), Some("Request Header Fields Too Large"));
        assert_eq!(reason_phrase(511), Some("Network Authentication Required"));
        assert_eq!(reason_phrase(306), None);
        assert_eq!(reason_phrase(299), None);
        assert_eq!(reason_phrase(0), None);
    }
}
