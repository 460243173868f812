//! Running one check command: no shell, a process group of its own, stdout and stderr
//! captured, a time limit that kills the whole group.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use super::interrupt;

/// The most bytes kept of each output stream (the last ones: a metric is usually printed
/// last).
pub const OUTPUT_CAP: usize = 16 << 20;

/// How often a running command is looked at.
const POLL: Duration = Duration::from_millis(10);

/// How long the output of an ended command is waited for: a process outside its group (one
/// that called `setsid`) can hold the pipes open.
const OUTPUT_WAIT: Duration = Duration::from_secs(2);

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// It ran past its time limit; its group was killed.
    TimedOut(Duration),
}

/// A command that ran.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub ending: Ending,
    /// The end of its stdout (at most [`OUTPUT_CAP`] bytes).
    pub stdout: Vec<u8>,
    /// The end of its stderr (at most [`OUTPUT_CAP`] bytes).
    pub stderr: Vec<u8>,
    /// How long it ran.
    pub duration: Duration,
}

/// Why a command did not run to its end.
#[derive(Debug)]
pub enum RunError {
    /// It could not be started (not found, not executable, ...).
    Start(std::io::Error),
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// A signal is ending precision (Ctrl-C): the command was stopped, not judged.
    Interrupted,
}

/// Runs `argv` with `env` added to precision's environment, stdin from /dev/null, in a new
/// process group, killed with its group after `timeout`. When the command ends, whatever it
/// left running in its group is killed too.
pub fn run(
    argv: &[String],
    env: &[(&str, OsString)],
    timeout: Option<Duration>,
) -> Result<Finished, RunError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(RunError::Start(std::io::Error::other("the command is empty")));
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let Some(mut child) = interrupt::spawn_registered(&mut command).map_err(RunError::Start)?
    else {
        return Err(RunError::Interrupted);
    };
    let group = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    for (stream, reader) in [
        (0, child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>)),
        (1, child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>)),
    ] {
        if let Some(reader) = reader {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send((stream, read_capped(reader)));
            });
        }
    }
    drop(tx);
    let waited = wait_killing_after(group, timeout);
    // Whatever the command left in its group goes with it. The command is not reaped yet
    // (waitid with WNOWAIT), so its process group id cannot have been reused.
    let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    let status = child.wait();
    interrupt::unregister_group(group);
    let duration = start.elapsed();
    let timed_out = waited.map_err(RunError::Wait)?;
    let status = status.map_err(RunError::Wait)?;
    if interrupt::ending() {
        return Err(RunError::Interrupted);
    }
    let mut outputs = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + OUTPUT_WAIT;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((stream, bytes)) => outputs[stream] = bytes,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = outputs;
    let ending = match (timed_out, status.code(), status.signal()) {
        (Some(limit), _, _) => Ending::TimedOut(limit),
        (None, Some(code), _) => Ending::Exited(code),
        (None, None, Some(signal)) => Ending::Signaled(signal),
        (None, None, None) => Ending::Signaled(0),
    };
    Ok(Finished { ending, stdout, stderr, duration })
}

/// Waits until the process `group` leads has ended, without reaping it. Past `timeout`, asks
/// its group to stop (SIGTERM), then kills it (SIGKILL) after [`interrupt::GRACE`]. Returns
/// the limit when it was passed.
fn wait_killing_after(
    group: i32,
    timeout: Option<Duration>,
) -> Result<Option<Duration>, std::io::Error> {
    let start = Instant::now();
    let pid = Pid::from_raw(group);
    let mut terminated: Option<Instant> = None;
    let mut killed = false;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(terminated.and(timeout)),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(std::io::Error::from(e)),
        }
        if let Some(limit) = timeout {
            match terminated {
                None if start.elapsed() >= limit => {
                    let _ = killpg(pid, Signal::SIGTERM);
                    terminated = Some(Instant::now());
                }
                Some(at) if !killed && at.elapsed() >= interrupt::GRACE => {
                    let _ = killpg(pid, Signal::SIGKILL);
                    killed = true;
                }
                _ => {}
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Reads `reader` to its end, keeping the last [`OUTPUT_CAP`] bytes or more.
fn read_capped(mut reader: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0_u8; 64 << 10];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * OUTPUT_CAP {
                    kept.drain(..kept.len() - OUTPUT_CAP);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > OUTPUT_CAP {
        kept.drain(..kept.len() - OUTPUT_CAP);
    }
    kept
}
