//! The hot-patch protocol of `rg runserver`, shared by rg and the
//! application process (dev mode).
//!
//! rg compiles the binary crate's changed code into a shared library,
//! writes a [`Request`] into the directory named by [`DIR`] and sends
//! [`signal`]; the runtime loads the library, takes the router its `main`
//! builds, and answers with a [`News`] over sd_notify (`X_RG_HOTPATCH=`).

use std::path::{Path, PathBuf};

/// The variable naming the directory of patches: set by `rg runserver`
/// when it can patch this process.
pub const DIR: &str = "RG_INTERNAL_HOT_PATCH";

/// The request's file in that directory.
const REQUEST: &str = "request";

/// The signal that asks a dev-mode process to load the requested patch:
/// the first real-time signal glibc leaves to programs, plus one.
pub fn signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// One patch to load: its number, the library, and where the binary
/// crate's `main` is, in bytes from the library's exported `main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub number: u64,
    pub library: PathBuf,
    pub main_offset: i64,
}

impl Request {
    /// Writes the request into `dir`, whole or not at all.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let partial = dir.join(format!("{REQUEST}.partial"));
        let text = format!(
            "{}\n{}\n{}\n",
            self.number,
            self.main_offset,
            self.library.display()
        );
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, dir.join(REQUEST))
    }

    /// The request in `dir`, if one is there and reads.
    pub fn read(dir: &Path) -> Option<Request> {
        let text = std::fs::read_to_string(dir.join(REQUEST)).ok()?;
        let mut lines = text.lines();
        Some(Request {
            number: lines.next()?.parse().ok()?,
            main_offset: lines.next()?.parse().ok()?,
            library: PathBuf::from(lines.next()?),
        })
    }
}

/// What the application says of patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// It can take patches (its application has no setup to rerun), and
    /// keeps the state of this type across them, if it has one.
    Ready(Option<String>),
    /// It cannot, and why: every save restarts it.
    Declined(String),
    /// Patch `n` serves every new request.
    Applied(u64),
    /// Patch `n` could not be applied, and why: rg restarts instead.
    Failed(u64, String),
}

impl News {
    /// The value of `X_RG_HOTPATCH=`, on one line.
    pub fn encode(&self) -> String {
        match self {
            News::Ready(None) => "ready".into(),
            News::Ready(Some(state)) => format!("ready {}", state.replace('\n', " ")),
            News::Declined(why) => format!("declined {}", why.replace('\n', " ")),
            News::Applied(n) => format!("applied {n}"),
            News::Failed(n, why) => format!("failed {n} {}", why.replace('\n', " ")),
        }
    }

    pub fn decode(value: &str) -> Option<News> {
        if value == "ready" {
            return Some(News::Ready(None));
        }
        if let Some(state) = value.strip_prefix("ready ") {
            return Some(News::Ready(Some(state.to_string())));
        }
        if let Some(why) = value.strip_prefix("declined ") {
            return Some(News::Declined(why.to_string()));
        }
        if let Some(n) = value.strip_prefix("applied ") {
            return n.parse().ok().map(News::Applied);
        }
        let (n, why) = value.strip_prefix("failed ")?.split_once(' ')?;
        Some(News::Failed(n.parse().ok()?, why.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_and_requests_read_back() {
        for news in [
            News::Ready(None),
            News::Ready(Some(
                "(sqlx_core::pool::Pool<sqlx_core::any::Any>, alloc::string::String)".into(),
            )),
            News::Declined("it has a setup".into()),
            News::Applied(3),
            News::Failed(4, "main did not call rg::run".into()),
        ] {
            assert_eq!(News::decode(&news.encode()), Some(news));
        }
        assert_eq!(News::decode("failed x y"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Request::read(dir.path()), None);
        let request = Request {
            number: 2,
            library: dir.path().join("patch-2.so"),
            main_offset: -4096,
        };
        request.write(dir.path()).unwrap();
        assert_eq!(Request::read(dir.path()), Some(request));
    }
}
