//! Status codes and their reason phrases. Every code of the original
//! async's `http.codes` carries that library's phrase (`302 Moved
//! Temporarily`, `408 Request Time-out`, `418 I'm a teapot`, ...), so that
//! programs comparing phrases, and the status lines they read, see what
//! they saw there. Codes the original lacked (103, 208, 226, 308, 421,
//! 428, 429, 431, 451, 508, 511) have their IANA registry phrases.

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
    (302, "Moved Temporarily"),
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
    (408, "Request Time-out"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Request Entity Too Large"),
    (414, "Request-URI Too Large"),
    (415, "Unsupported Media Type"),
    (416, "Requested Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (418, "I'm a teapot"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Unordered Collection"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Time-out"),
    (505, "HTTP Version not supported"),
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
        assert_eq!(reason_phrase(418), Some("I'm a teapot"));
        assert_eq!(reason_phrase(431), Some("Request Header Fields Too Large"));
        assert_eq!(reason_phrase(511), Some("Network Authentication Required"));
        assert_eq!(reason_phrase(306), None);
        assert_eq!(reason_phrase(299), None);
        assert_eq!(reason_phrase(0), None);
    }

    #[test]
    fn phrases_where_the_original_differs_from_the_registry_are_the_originals() {
        let expected = [
            (302, "Moved Temporarily"),
            (408, "Request Time-out"),
            (413, "Request Entity Too Large"),
            (414, "Request-URI Too Large"),
            (416, "Requested Range Not Satisfiable"),
            (418, "I'm a teapot"),
            (425, "Unordered Collection"),
            (504, "Gateway Time-out"),
            (505, "HTTP Version not supported"),
            (509, "Bandwidth Limit Exceeded"),
        ];
        for (code, phrase) in expected {
            assert_eq!(reason_phrase(code), Some(phrase), "{code}");
        }
    }
}
