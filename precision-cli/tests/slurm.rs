//! Checks on a cluster: a search whose check command is `srun ... {model}` hands each check
//! to Slurm as a job of its own. Each test starts a throwaway single-node cluster
//! (`fixtures::slurm`: Debian's `slurm-wlm` and `munge`, as root; `.ci/run` installs them)
//! and fails, saying what to install, where it cannot.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{CHAIN, code, s, text};
use fixtures::folder::TempFolder;
use fixtures::slurm::Cluster;

/// The check script: `$1` is the check's model (`{model}`, the mock plan as JSON), `$2` a
/// folder for records. It writes `job-N` (the cluster, job id and model path it ran with),
/// meets the check named in `partner-N` (if any) at a barrier, and passes exactly when the
/// plan marks `l5`. Alone at the barrier for 30 s, it exits with 9.
const JUDGE: &str = r#"model=$1 dir=$2 n=$PRECISION_CHECK
printf '%s %s %s\n' "${SLURM_CLUSTER_NAME:--}" "${SLURM_JOB_ID:--}" "$model" > "$dir/job-$n"
if [ -f "$dir/partner-$n" ]; then
  partner=$(cat "$dir/partner-$n")
  touch "$dir/token-$n"
  i=0
  until [ -e "$dir/token-$partner" ]; do
    i=$((i + 1)); [ "$i" -gt 600 ] && { echo "alone at the barrier" >&2; exit 9; }
    sleep 0.05
  done
fi
grep -q '"l5"' "$model""#;

/// `precision -q ARGS` (the check command takes the rest of the line, so `-q` goes first),
/// with `$SLURM_CONF` naming `cluster` and no job environment of an outer Slurm, if the
/// tests themselves run in one.
fn precision(cluster: &Cluster, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_precision"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SLURM") {
            command.env_remove(name);
        }
    }
    command.arg("-q").args(args).env("SLURM_CONF", cluster.conf()).stdin(Stdio::null());
    command
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the report")).expect("JSON")
}

fn marked_names(report: &serde_json::Value) -> Vec<String> {
    report["marked"]
        .as_array()
        .expect("marked")
        .iter()
        .map(|m| m["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// Each check of a report: its round, marked layers and verdict.
fn checks(report: &serde_json::Value) -> Vec<(u64, String, bool)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["round"].as_u64().unwrap(), c["marked"].to_string(), c["passed"] == true))
        .collect()
}

/// A ranked search with `--jobs 2` and `srun` as its check command: every check runs as a
/// Slurm job of the test's cluster, on the shared artifacts, two at once (the two checks of
/// each round of two meet at a barrier, which a check alone fails), and the answer and every
/// check are those of the same search without Slurm.
#[test]
fn ranked_checks_run_as_slurm_jobs_two_at_a_time() {
    let cluster = Cluster::start();
    let w = TempFolder::new();
    let model = w.write("chain.toml", CHAIN);
    let judge = w.script("judge.sh", JUDGE);
    // One search: `prefix` is the check command's start (`srun ...`, or nothing), the
    // records go to `records`.
    let search = |name: &str, records: &Path, prefix: &[&str]| {
        let (r, artifacts) = (w.s(&format!("{name}.json")), w.s(&format!("{name}-artifacts")));
        let mut args = vec!["ranked", s(&model), "--int8", "--jobs", "2", "--no-journal"];
        args.extend(["--report", &r, "--artifacts-dir", &artifacts, "--no-compare", "--check"]);
        args.extend(prefix);
        args.extend([judge.as_str(), "{model}", s(records)]);
        let out = precision(&cluster, &args).output().unwrap();
        assert_eq!(code(&out), 0, "{name}: {}", text(&out));
        (report(Path::new(&r)), text(&out), artifacts)
    };

    // Without Slurm: the answer, and which checks share a round.
    let local_records = w.path("local");
    std::fs::create_dir(&local_records).unwrap();
    let (local, said, _) = search("local", &local_records, &[]);
    assert_eq!(marked_names(&local), ["l5"], "{said}");

    // With --no-compare every check runs the command, so check k of the report is the
    // command's run k: the runs of a round of two are partners at the barrier.
    let mut rounds: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (k, (round, _, _)) in checks(&local).iter().enumerate() {
        rounds.entry(*round).or_default().push(k + 1);
    }
    let pairs: Vec<(usize, usize)> =
        rounds.values().filter(|runs| runs.len() == 2).map(|runs| (runs[0], runs[1])).collect();
    assert!(!pairs.is_empty(), "the search has no round of two checks: {rounds:?}");
    let records = w.path("slurm");
    std::fs::create_dir(&records).unwrap();
    for &(a, b) in &pairs {
        w.write(&format!("slurm/partner-{a}"), &b.to_string());
        w.write(&format!("slurm/partner-{b}"), &a.to_string());
    }

    // With Slurm: the same search, each check a job.
    let (remote, said, artifacts) = search("slurm", &records, &["srun", "--quiet", "--ntasks=1"]);
    for check in remote["checks"].as_array().unwrap() {
        assert_ne!(check["command"]["exit_code"], 9, "a check was alone at the barrier: {said}");
    }
    assert_eq!(marked_names(&remote), marked_names(&local), "{said}");
    assert_eq!(checks(&remote), checks(&local), "the checks differ from the search without Slurm");

    // Every check ran as a job of its own on the test's cluster, on the shared artifacts.
    let mut jobs = Vec::new();
    for run in 1..=checks(&remote).len() {
        let record = w.read(&format!("slurm/job-{run}"));
        let fields: Vec<&str> = record.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "check {run} left no record: {record:?}");
        assert_eq!(fields[0], cluster.name(), "check {run} ran outside the test's cluster");
        let job: u64 = fields[1].parse().unwrap_or_else(|_| panic!("check {run}: no job id"));
        assert!(Path::new(fields[2]).starts_with(&artifacts), "check {run}: {}", fields[2]);
        jobs.push(job);
    }
    let distinct: std::collections::BTreeSet<u64> = jobs.iter().copied().collect();
    assert_eq!(distinct.len(), jobs.len(), "one job per check: {jobs:?}");
    for (a, b) in pairs {
        for run in [a, b] {
            assert!(w.path(&format!("slurm/token-{run}")).exists(), "check {run} never waited");
        }
    }
    // A job ends a moment after its srun (the node reports it complete).
    cluster.wait_for_jobs(
        "an empty queue after the search",
        Duration::from_secs(10),
        <[_]>::is_empty,
    );
}

/// Ctrl-C (SIGINT to precision) while two checks run under `srun`: precision stops the
/// commands (SIGTERM to their process groups), `srun` cancels its job step, and the queue is
/// empty within seconds; the checks' processes on the node are gone, although they ignore
/// SIGTERM (so it is not srun passing the signal on that ends them).
#[test]
fn ctrl_c_leaves_no_slurm_job_behind() {
    use std::os::unix::process::ExitStatusExt as _;
    let cluster = Cluster::start();
    let w = TempFolder::new();
    let model = w.write("chain.toml", CHAIN);
    let hang = w.script(
        "hang.sh",
        r#"trap '' TERM INT
echo "$SLURM_JOB_ID" > "$1/job-$PRECISION_CHECK"
echo $$ > "$1/pid.tmp-$PRECISION_CHECK" && mv "$1/pid.tmp-$PRECISION_CHECK" "$1/pid-$PRECISION_CHECK"
exec sleep 300"#,
    );
    let records = w.s("records");
    std::fs::create_dir(&records).unwrap();
    let artifacts = w.s("artifacts");
    // Bisect without the floor check: its first round is two checks.
    let mut child = Killed(
        precision(
            &cluster,
            &[
                "bisect",
                s(&model),
                "--int8",
                "--jobs",
                "2",
                "--no-floor-check",
                "--no-journal",
                "--no-compare",
                "--artifacts-dir",
                &artifacts,
                "--check",
                "srun",
                "--quiet",
                &hang,
                &records,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let two = cluster.wait_for_jobs("two running jobs", Duration::from_secs(60), |jobs| {
        jobs.iter().filter(|j| j.state == "RUNNING").count() == 2
    });
    // A guard against hanging forever, not a measure of speed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(1..=2).all(|n| w.path(&format!("records/pid-{n}")).exists()) {
        assert!(Instant::now() < deadline, "the two checks did not start: {two:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids: Vec<i32> =
        (1..=2).map(|n| w.read(&format!("records/pid-{n}")).trim().parse().unwrap()).collect();
    let mut recorded: Vec<u64> =
        (1..=2).map(|n| w.read(&format!("records/job-{n}")).trim().parse().unwrap()).collect();
    let mut queued: Vec<u64> = two.iter().map(|j| j.id).collect();
    recorded.sort_unstable();
    queued.sort_unstable();
    assert_eq!(recorded, queued, "the running jobs are not the checks'");
    let precision_pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    nix::sys::signal::kill(precision_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "precision did not end after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(2), "precision did not end by SIGINT: {status:?}");
    cluster.wait_for_jobs("an empty queue after Ctrl-C", Duration::from_secs(10), <[_]>::is_empty);
    for pid in pids {
        assert!(!running(pid), "the check's process {pid} outlived Ctrl-C");
    }
    assert!(
        std::fs::read_dir(&artifacts).map_or(true, |mut d| d.next().is_none()),
        "artifacts were left in {artifacts}"
    );
}

/// A child process killed when dropped, so that a failed test leaves no search running (the
/// cluster's teardown then cancels the jobs its `srun`s leave).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}
