//! A save applied as a hot patch: when the running application said it
//! takes patches and the save changed only the binary crate's own files,
//! rustc compiles that crate alone into objects, rg links it as a shared
//! library (`build/patch.rs`), and the application loads it and serves
//! new requests with the router it builds, without a restart.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use console::style;
use rg_contract::hot_patch::{self, News};

use crate::build::depinfo::Inputs;
use crate::build::patch;
use crate::dev::app::{app_exit, describe_status, sleep_until};
use crate::dev::patches::{ANSWER_WITHIN, Hot};
use crate::dev::server::Dev;
use crate::dev::watch::{Watcher, next_save};

impl Dev {
    /// Tries the save of `paths` as a hot patch. A save during its compile
    /// stops it and compiles again, as it does a build; `paths` gains it.
    pub(super) async fn hot_patch(
        &mut self,
        paths: &mut Vec<PathBuf>,
        started: Instant,
        watcher: &mut Option<Watcher>,
    ) -> Result<Hot> {
        let (Some(app), None, Ok(project)) = (&self.app, &self.page, &self.project) else {
            return Ok(Hot::Restart);
        };
        let (true, Some(library_path), Some(_)) = (app.patches, app.library_path.clone(), &self.hot) else {
            return Ok(Hot::Restart);
        };
        let (pid, project, mut begun) = (app.pid, project.clone(), Instant::now());
        // Awaited in place: a stop meanwhile finds it there, to abort it.
        if let Some(hot) = self.hot.as_mut()
            && let Some(priming) = hot.priming.as_mut()
        {
            let _ = priming.await;
            hot.priming = None;
        }
        let Some(compile) = self.direct.object(&project) else {
            return Ok(Hot::Restart);
        };
        let mut compile = Box::pin(compile);
        let object = loop {
            tokio::select! {
                compiled = &mut compile => break compiled?,
                (saved, _) = next_save(watcher) => {
                    if self.reload_only(&saved) {
                        continue;
                    }
                    self.note_save(&saved);
                    println!("{} changed during the compile; compiling again", self.describe(&saved));
                    for path in saved {
                        if !paths.contains(&path) {
                            paths.push(path);
                        }
                    }
                    // The compile under way is dropped, and rustc with it.
                    match self.direct.object(&project) {
                        Some(again) => compile = Box::pin(again),
                        None => return Ok(Hot::Restart),
                    }
                    begun = Instant::now();
                }
            }
        };
        let object = match object {
            None => return Ok(Hot::Restart),
            Some(Err(diagnostics)) => return Ok(Hot::Failed(diagnostics)),
            Some(Ok(object)) => object,
        };
        self.inputs = Inputs::of(&object.exe);
        let source = std::fs::read_to_string(&object.root).unwrap_or_default();
        if let Err(why) = patch::main_is_callable(&source) {
            return Ok(not_patched(&why));
        }
        let hot = self.hot.as_mut().context("hot patches")?;
        let dir = hot.dir.clone().context("the patches' directory")?;
        hot.made += 1;
        let number = hot.made;
        let out = dir.join(format!("patch-{number}.so"));
        let linked = patch::link(&object.objects, &library_path, &object.krate, &out).await;
        // Kept by rustc in its incremental cache, as it keeps a build's.
        for file in &object.objects {
            let _ = std::fs::remove_file(file);
        }
        let patch = match linked {
            Ok(patch) => patch,
            Err(why) => return Ok(not_patched(&why)),
        };
        let request = hot_patch::Request {
            number,
            library: patch.library,
            main_offset: patch.main_offset,
        };
        request.write(&dir).context("failed to write the patch request")?;
        // SAFETY: kill(2) on our own child, with a signal it handles (it
        // said so: `X_RG_HOTPATCH=ready`).
        unsafe { libc::kill(pid as i32, hot_patch::signal()) };
        let deadline = Some(Instant::now() + ANSWER_WITHIN);
        loop {
            tokio::select! {
                message = self.receiver.recv() => {
                    let message = message?;
                    match message.notification().hot_patch {
                        Some(News::Applied(n)) if n == number && message.pid == pid => {
                            println!(
                                "{} changed; {} in {:.2}s (the application runs on, its connections open)",
                                self.describe(paths),
                                style("patched").green(),
                                begun.elapsed().as_secs_f64()
                            );
                            return Ok(Hot::Applied);
                        }
                        Some(News::Failed(n, why)) if n == number && message.pid == pid => {
                            return Ok(not_patched(&why));
                        }
                        _ => self.on_message(&message, started),
                    }
                }
                // Code before `rg::run` in the patch's `main` may end it.
                status = app_exit(&mut self.app) => {
                    let how = describe_status(status.context("waiting for the application")?);
                    return Ok(not_patched(&format!("the application {how} while it loaded the patch")));
                }
                () = sleep_until(deadline) => return Ok(not_patched("the application did not answer")),
            }
        }
    }
}

impl Dev {
    /// Once the application is up and takes patches: the first patch's
    /// compile, run ahead, so that the first save reuses its cache.
    pub(super) fn prime(&mut self) {
        let (Some(hot), Ok(project)) = (self.hot.as_mut(), &self.project) else {
            return;
        };
        hot.stop_priming();
        hot.priming = self.direct.prime(project).map(tokio::spawn);
    }
}

fn not_patched(why: &str) -> Hot {
    println!("Not patched: {}", patch::readable(why));
    Hot::Restart
}
