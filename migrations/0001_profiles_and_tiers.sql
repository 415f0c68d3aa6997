-- Profiles and tier entitlements.
--
-- Dexter's Supabase project already owns public.profiles (id uuid primary key, plus its
-- own columns). Create it only on a fresh database, then add just the columns the
-- connector reads, each with a default so existing rows stay valid. No reference to
-- auth.users: plain Postgres (local, tests) has no such schema.
create table if not exists profiles (
    id uuid primary key
);
alter table profiles add column if not exists email text;
alter table profiles add column if not exists tier text not null default 'free';
alter table profiles add column if not exists channels jsonb not null default '{}'::jsonb;

-- Which MCP tools each tier may call: data, so an operator changes entitlements without
-- a deploy. A tier missing here allows nothing.
create table if not exists connector_tier_tools (
    tier text primary key,
    tools text[] not null default '{}'
);

-- Seed the defaults once; an operator's later edits win over a re-run.
insert into connector_tier_tools (tier, tools) values
    ('free', array[
        'list_my_wallets', 'solana_list_balances', 'solana_resolve_token',
        'solana_swap_preview', 'search', 'alerts_list'
    ]),
    ('pro', array[
        'list_my_wallets', 'solana_list_balances', 'solana_resolve_token',
        'solana_swap_preview', 'search', 'alerts_list',
        'solana_swap_execute', 'alerts_create', 'pumpstream_live_summary'
    ])
on conflict (tier) do nothing;

-- Supabase serves every table in public through its REST API; with row level security
-- on and no policy, only the connector's own role (the table owner) can read it.
alter table connector_tier_tools enable row level security;
