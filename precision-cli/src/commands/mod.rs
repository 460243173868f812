//! One module per subcommand.

mod check;
mod compare;
mod layers;
mod run;
mod search;

use precision_core::{Algorithm, Network, PrecisionPlan};

use crate::Verdict;
use crate::args::{Cli, Command, PrecisionArgs};

/// Runs the subcommand.
pub fn dispatch(cli: &Cli) -> anyhow::Result<Verdict> {
    match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Bisect(args) => search::run(args, Algorithm::Bisect, cli.quiet),
        Command::Linear(args) => search::run(args, Algorithm::Linear, cli.quiet),
        Command::WorstFirst(args) => search::run(args, Algorithm::WorstFirst, cli.quiet),
        Command::Check(args) => check::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Layers(args) => layers::run(args),
    }
}

/// The base plan (nothing marked) for the precision flags.
fn base_plan(network: &Network, precision: &PrecisionArgs) -> anyhow::Result<PrecisionPlan> {
    Ok(PrecisionPlan::new(network, precision.lower(), precision.precision)?)
}
