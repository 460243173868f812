//! Ctrl-C (and SIGTERM, SIGHUP) while check commands run.
//!
//! Each check command runs in a process group of its own, so that a timeout can kill the
//! command with everything it started; the terminal's Ctrl-C reaches only the foreground group
//! (precision), not those. Once a check command may run, a signal thread takes these signals:
//! it marks the process as ending (no command starts any more, and no check that a signal cut
//! short is recorded as failed), asks every running command's group to stop (SIGTERM, then
//! SIGKILL after [`GRACE`]), removes the artifacts that would not be kept, and ends precision
//! by the same signal, as it would have ended without the thread. The check journal holds
//! every check finished before: a rerun resumes from it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long a command's process group has to end after SIGTERM before it gets SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// What the signal thread must clean up.
#[derive(Default)]
struct Registry {
    /// A signal arrived: the process is ending.
    ending: bool,
    /// The process groups of the running commands.
    groups: HashSet<i32>,
    /// Files and folders to remove when a signal ends the process.
    remove: HashSet<PathBuf>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

static INSTALL: Once = Once::new();

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the data consistent (plain inserts and removes).
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the signal thread (once per process). Errors when the handlers cannot be set.
pub fn install() -> std::io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        result = Signals::new([SIGINT, SIGTERM, SIGHUP]).and_then(|mut signals| {
            std::thread::Builder::new().name("precision-signals".into()).spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    end_by(signal);
                }
            })?;
            Ok(())
        });
    });
    result
}

/// Stops every running command, removes what is registered for removal and ends the process
/// by `signal`.
fn end_by(signal: i32) {
    let groups: Vec<i32> = {
        let mut r = registry();
        r.ending = true;
        r.groups.iter().copied().collect()
    };
    for &group in &groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && !registry().groups.is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (groups, remove): (Vec<i32>, Vec<PathBuf>) = {
        let r = registry();
        (r.groups.iter().copied().collect(), r.remove.iter().cloned().collect())
    };
    for group in groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    for path in remove {
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    std::process::exit(128 + signal);
}

/// Whether a signal is ending the process.
pub fn ending() -> bool {
    registry().ending
}

/// Blocks the calling thread while the signal thread ends the process: a check cut short by
/// a signal must not be recorded as failed.
pub fn wait_for_the_end() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Spawns `command` (already set to lead a process group of its own) and registers its group,
/// atomically with respect to a signal: `Ok(None)` when the process is ending.
pub fn spawn_registered(
    command: &mut std::process::Command,
) -> std::io::Result<Option<std::process::Child>> {
    let mut r = registry();
    if r.ending {
        return Ok(None);
    }
    let child = command.spawn()?;
    r.groups.insert(child.id() as i32);
    Ok(Some(child))
}

/// Forgets the group of a command that ended and was reaped.
pub fn unregister_group(group: i32) {
    registry().groups.remove(&group);
}

/// Removes `path` (a file, or a folder with its contents) if a signal ends the process.
pub fn remove_on_signal(path: &Path) {
    registry().remove.insert(path.to_owned());
}

/// Undoes [`remove_on_signal`].
pub fn keep_on_signal(path: &Path) {
    registry().remove.remove(path);
}
