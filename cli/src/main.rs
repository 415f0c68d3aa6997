//! `connector`: the operator's and developer's command line.
//!
//! - `connector serve` runs every route on one local listener (in-memory store unless
//!   `DATABASE_URL` is set) and prints what to paste into the GPT editor.
//! - `connector migrate` applies `migrations/` to `DATABASE_URL`.
//! - `connector sweep [--json]` runs one sweep of `DATABASE_URL` (what the scheduled
//!   `sweep` function does hourly) and prints what it removed.
//! - `connector clients create|list|delete|rotate-secret` manages OAuth clients.
//! - `connector keys generate` prints a new Ed25519 signing key as a private JWK.
//! - `connector generate [--check]` writes (or checks) the files that come from the code:
//!   `openapi/openapi.json`, the function blocks of `template.yaml` and the `cargo lambda
//!   watch` router in `Cargo.toml`.

mod clients;
mod generate;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "connector", version, about = "Dexter's ChatGPT connector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route locally, on embedded defaults.
    Serve {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Manage OAuth clients in DATABASE_URL (the GPT editor's client id and secret).
    Clients {
        #[command(subcommand)]
        command: clients::ClientsCommand,
    },
    /// Apply pending migrations to DATABASE_URL.
    Migrate,
    /// Remove what is no longer needed from DATABASE_URL (expired sign-ins, codes and
    /// tokens, used voice tickets, old notifications, finished rate-limit windows) and
    /// resolve swaps stuck executing; print the counts.
    Sweep {
        /// Print the counts as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the GPT Actions spec to openapi/openapi.json (servers[0].url from
    /// PUBLIC_BASE_URL, default https://api.dexter.cash).
    Openapi {
        /// Where to write it.
        #[arg(long, default_value = "openapi/openapi.json")]
        out: std::path::PathBuf,
    },
    /// Print every Lambda function and its routes (and a scheduled one's schedule) as
    /// JSON (for template checks).
    Functions,
    /// Regenerate openapi/openapi.json, template.yaml's functions and Cargo.toml's
    /// `cargo lambda watch` router from the code; with --check, only say what is stale.
    Generate {
        #[arg(long)]
        check: bool,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new Ed25519 private JWK. Put it first in SIGNING_KEYS; keep the previous
    /// key after it until the tokens it signed have expired (one hour).
    Generate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { port } => serve::run(port).await,
        Command::Clients { command } => clients::run(command).await,
        Command::Migrate => {
            let applied = clients::connect_to_database("")?.migrate().await?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for name in applied {
                println!("applied {name}");
            }
            Ok(())
        }
        Command::Sweep { json } => {
            let store = clients::connect_to_database("")?;
            let report = shared::sweep::run(&store).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print_sweep(&report);
            }
            Ok(())
        }
        Command::Openapi { out } => {
            let base =
                std::env::var("PUBLIC_BASE_URL").unwrap_or_else(|_| shared::openapi::CHECKED_IN_BASE_URL.to_owned());
            let text = serde_json::to_string_pretty(&shared::openapi::document(base.trim_end_matches('/')))? + "\n";
            std::fs::write(&out, text)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Functions => {
            let functions: Vec<serde_json::Value> = shared::routes::functions()
                .map(|f| {
                    let routes: Vec<(String, String)> =
                        f.routes().into_iter().map(|(method, path)| (method.to_string(), path)).collect();
                    let mut function = serde_json::json!({ "name": f.name(), "routes": routes });
                    if let Some(schedule) = f.schedule() {
                        function["schedule"] = schedule.into();
                    }
                    function
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&functions)?);
            Ok(())
        }
        Command::Generate { check } => generate::run(check),
        Command::Keys { command: KeysCommand::Generate } => {
            println!("{}", shared::keys::SigningKeys::generate_jwk());
            Ok(())
        }
    }
}

/// The sweep's counts, one per line.
fn print_sweep(report: &shared::store::SweepReport) {
    println!("expired authorization requests  {}", report.authorization_requests);
    println!("authorization codes             {}", report.authorization_codes);
    println!("expired refresh tokens          {}", report.refresh_tokens);
    println!("used or expired voice handoffs  {}", report.voice_handoffs);
    println!("old notifications               {}", report.notifications);
    println!("finished rate-limit windows     {}", report.rate_limit_windows);
    println!("stuck swaps resolved as unknown {}", report.stuck_approvals);
    println!("unused client registrations     {}", report.client_registrations);
    println!("expired client assertion jtis   {}", report.client_assertions);
}
