//! Tests of the argument parsing: per-output values, durations, the flag definitions.

use super::*;

#[test]
fn per_output_splits_on_last_colon() {
    let items: Vec<String> =
        ["1e-3", "out:0:1e-2", "a/b:5"].iter().map(|s| (*s).to_owned()).collect();
    let p = per_output(&items, 1e-5, |v| v.parse::<f64>().map_err(|e| e.to_string())).unwrap();
    assert_eq!(p.default, 1e-3);
    assert_eq!(*p.get("out:0"), 1e-2);
    assert_eq!(*p.get("a/b"), 5.0);
    assert_eq!(*p.get("other"), 1e-3);
    let bad = per_output(&["x:abc".to_owned()], 0.0, |v| {
        v.parse::<f64>().map_err(|_| format!("'{v}' is not a number"))
    });
    assert!(bad.unwrap_err().to_string().contains("'abc'"));
}

#[test]
fn durations_parse() {
    use std::time::Duration;
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    for bad in ["", "m", "10x", "5m3", "-3", "1e400"] {
        assert!(parse_duration(bad).unwrap_err().contains("invalid duration"), "{bad}");
    }
}

#[test]
fn latency_runs_default_to_the_core_default() {
    let runs = precision_core::latency::LatencySettings::default().runs;
    assert_eq!(LATENCY_RUNS.parse::<usize>(), Ok(runs));
}

#[test]
fn cli_definition_is_valid() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
