//! Keeping credentials out of what is logged or shown.

/// `text` with the userinfo (`user:password@`) of every URL in it removed: endpoint URLs may
/// carry credentials, and error messages from HTTP clients quote the URL they used.
pub fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        rest = match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => &tail[userinfo_end + 1..],
            None => tail,
        };
    }
    out.push_str(rest);
    out
}

/// `text` with every word holding an `@` (an email address, as a mail server's refusal may
/// quote it) replaced by `[address]`: logs carry no personal data.
pub fn without_addresses(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains('@') { "[address]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::{without_addresses, without_userinfo};

    #[test]
    fn addresses_go_from_log_text() {
        assert_eq!(
            without_addresses("550 5.1.1 <owner@example.com>: Recipient address rejected"),
            "550 5.1.1 [address] Recipient address rejected"
        );
    }

    #[test]
    fn userinfo_goes_and_the_rest_stays() {
        assert_eq!(
            without_userinfo(
                "error sending request for url (https://key:s3cr@t@s3.example:9000/b/x?y=1): refused"
            ),
            "error sending request for url (https://s3.example:9000/b/x?y=1): refused"
        );
        assert_eq!(
            without_userinfo("a http://u@h/ and b ftp://h2/p@q"),
            "a http://h/ and b ftp://h2/p@q"
        );
        assert_eq!(without_userinfo("no url: a@b"), "no url: a@b");
        assert_eq!(without_userinfo("ends ://"), "ends ://");
    }
}
