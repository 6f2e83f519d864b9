//! How a process ended, in words: the master's log says "exited with code
//! 3" or "was killed by SIGABRT", and `rg runserver` says the same of its
//! application, so the two read alike.

use nix::sys::signal::Signal;

/// How a process ended. Its `Display` is a verb phrase that follows the
/// process's name: "exited cleanly", "exited with code 3", "was killed by
/// SIGKILL".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(Signal),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(0) => write!(f, "exited cleanly"),
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "was killed by {}", s.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_words() {
        assert_eq!(Exit::Code(0).to_string(), "exited cleanly");
        assert_eq!(Exit::Code(3).to_string(), "exited with code 3");
        assert_eq!(Exit::Signal(Signal::SIGABRT).to_string(), "was killed by SIGABRT");
    }
}
