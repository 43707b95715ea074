//! Secrets (registry passwords, ECR tokens): a type whose `Display` and `Debug` never show the
//! value, and a redactor that scrubs known secrets from text before it is printed.

use std::fmt;

/// A value that must never be printed. Use [`Secret::expose`] only where the value is handed to
/// its consumer (a file with mode 0600, a pipe), never in a message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Replaces every known secret (and the base64 forms registries use) in text with `****`.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

impl Redactor {
    pub fn add(&mut self, secret: &Secret) {
        self.add_raw(secret.expose());
    }

    /// Adds a raw string that is secret in itself (e.g. a base64 `user:password` token).
    pub fn add_raw(&mut self, s: &str) {
        if !s.is_empty() {
            self.needles.push(s.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "****");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-password");
        assert_eq!(format!("{s} {s:?}"), "**** Secret(****)");
        let mut r = Redactor::default();
        r.add(&s);
        r.add_raw("QVdTOmh1bnRlcjI=");
        assert_eq!(
            r.clean("login hunter2-password ok QVdTOmh1bnRlcjI="),
            "login **** ok ****"
        );
    }
}
