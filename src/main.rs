//! The `stance` command: parse the arguments, run the subcommand (in `cli/`), map its error to
//! an exit code. Exit codes: 0 ok, 1 runtime failure, 2 usage error.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

use stance::server::telemetry;
use stance::StanceError;

use cli::{Cli, Command, UsageError};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let flag = match e.get(clap::error::ContextKind::InvalidArg) {
                Some(clap::error::ContextValue::String(arg)) => arg.split(' ').next(),
                _ => None,
            };
            if let Some(note) = flag.and_then(cli::env_note) {
                let _ = writeln!(std::io::stderr(), "stance: note: {note}");
            }
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let result = match cli.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Healthcheck(a) => cli::healthcheck::run(a),
        other => {
            telemetry::init_cli("warn");
            match other {
                Command::Train(a) => cli::train::run(a),
                Command::Classify(a) => cli::classify::run(a),
                Command::Evaluate(a) => cli::evaluate::run(a),
                Command::Leakage(a) => cli::leakage::run(a),
                Command::Serve(_) | Command::Healthcheck(_) => unreachable!("handled above"),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`stance evaluate | head`): nothing left to say.
        Err(e)
            if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
                == Some(std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Not eprintln!: with stderr gone it would panic and replace the exit code below.
            let _ = writeln!(
                std::io::stderr(),
                "stance: error: {}",
                cli::error_message(&e)
            );
            let usage = e.downcast_ref::<UsageError>().is_some()
                || matches!(
                    e.downcast_ref::<StanceError>(),
                    Some(StanceError::Param { .. })
                );
            if let Some(note) = cli::blamed_flag(&e).and_then(|f| cli::env_note(&f)) {
                let _ = writeln!(std::io::stderr(), "stance: note: {note}");
            }
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
