//! `connector clients create|list|delete|rotate-secret`: OAuth client management straight
//! against `DATABASE_URL`, for operators with database access and no admin token at hand
//! (or no deployment yet). The work is `shared::operator::clients`, the same code the
//! operator API runs, so both enforce the same rules.

use anyhow::Context;
use clap::Subcommand;
use shared::ids::ClientId;
use shared::operator::clients::{self, ClientView, NewClient};
use shared::store::PgStore;

/// The `connector clients` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client and print its id and secret (shown only this once).
    Create {
        /// Shown to users on the consent page and in their linked accounts.
        #[arg(long)]
        name: String,
        /// An allowed redirect URI; repeat for several. ChatGPT shows its callback URL
        /// in the GPT editor (https://chatgpt.com/aip/g-…/oauth/callback).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A scope the client may ask for; repeat for several. Default: all of them.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The client id to use instead of a generated `chatgpt-…` one.
        #[arg(long)]
        client_id: Option<String>,
    },
    /// List the registered clients (never their secrets).
    List,
    /// Delete a client and revoke every grant and token of it at once.
    Delete {
        /// The client id.
        id: ClientId,
    },
    /// Give a client a new secret.
    RotateSecret {
        /// The client id.
        id: ClientId,
        /// Keep the old secret valid this many seconds (at most 604800, 7 days), so the
        /// GPT can be updated without failed token requests. Default: it dies now.
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        keep_previous_for: u32,
    },
}

/// Runs one `connector clients` subcommand.
pub async fn run(cmd: ClientsCommand) -> anyhow::Result<()> {
    let store = connect()?;
    let now = chrono::Utc::now();
    match cmd {
        ClientsCommand::Create { name, redirect_uris, scopes, client_id } => {
            let new = NewClient { name, redirect_uris, scopes: (!scopes.is_empty()).then_some(scopes), client_id };
            let created = clients::create_client(&store, new, now).await?;
            println!("client id       {}", created.client_id);
            println!("client secret   {}", created.client_secret.expose());
            println!("name            {}", created.name);
            println!("redirect URIs   {}", created.redirect_uris.join(" "));
            println!("scopes          {}", created.scopes.join(" "));
            println!();
            println!(
                "Paste the client id and secret into the GPT editor (Actions → Authentication → \
                 OAuth). The secret is shown only now; lose it and run `connector clients \
                 rotate-secret {}`.",
                created.client_id
            );
        }
        ClientsCommand::List => {
            let clients = clients::list_clients(&store, now).await?;
            if clients.is_empty() {
                println!("no clients");
            }
            for client in &clients {
                print_client(client);
            }
        }
        ClientsCommand::Delete { id } => {
            clients::delete_client(&store, &id, now).await.with_context(|| format!("could not delete client {id}"))?;
            println!("deleted client {id}; every grant and token of it is revoked");
        }
        ClientsCommand::RotateSecret { id, keep_previous_for } => {
            let rotated = clients::rotate_secret(&store, &id, keep_previous_for, now)
                .await
                .with_context(|| format!("could not rotate the secret of client {id}"))?;
            println!("client id       {}", rotated.client_id);
            println!("client secret   {}", rotated.client_secret.expose());
            match rotated.previous_secret_expires_at {
                Some(at) => println!("the previous secret keeps working until {at}"),
                None => println!("the previous secret no longer works"),
            }
            println!();
            println!("Paste the new secret into the GPT editor (Actions → Authentication).");
        }
    }
    Ok(())
}

/// The store `DATABASE_URL` names; TLS when `DATABASE_TLS` is `true` or `1`, as Supabase
/// requires, also trusting the CA certificate(s) of `DATABASE_CA_PEM` when set (which
/// implies TLS). `missing` is said when `DATABASE_URL` is not set.
pub fn connect_to_database(missing: &str) -> anyhow::Result<PgStore> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("configuration error: DATABASE_URL is not set{missing}"))?;
    match std::env::var("DATABASE_CA_PEM").ok().filter(|pem| !pem.trim().is_empty()) {
        Some(ca_pem) => PgStore::connect_with_ca(&url, &ca_pem),
        None => PgStore::connect(&url, std::env::var("DATABASE_TLS").is_ok_and(|v| v == "true" || v == "1")),
    }
}

fn connect() -> anyhow::Result<PgStore> {
    connect_to_database(
        "; `connector clients` works on the database directly (or use the operator API with the admin token)",
    )
}

fn print_client(client: &ClientView) {
    println!("{}", client.client_id);
    println!("  name            {}", client.name);
    println!("  created         {}", client.created_at);
    println!("  redirect URIs   {}", client.redirect_uris.join(" "));
    println!("  scopes          {}", client.scopes.join(" "));
    if let Some(at) = client.previous_secret_expires_at {
        println!("  previous secret valid until {at}");
    }
}
