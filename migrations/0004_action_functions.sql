-- The two statements every action makes, as functions: the grant query before it calls
-- dexter-mcp, the receipts after.
--
-- The connector sends only unnamed statements (so it works behind a transaction-mode
-- pooler such as Supabase's), and Postgres parses and plans an unnamed statement on
-- every execution. On the build machine that was most of each statement's cost
-- (pgbench, -M extended against -M prepared): 0.424 vs 0.075 ms for the grant query,
-- 0.411 vs 0.101 ms for a receipt. PL/pgSQL keeps the plans of the statements inside a
-- function for the life of the server connection, whichever client borrows it.

-- Bump last_used_at of a live grant only when it is stale (older than p_stale_before),
-- then read liveness, scopes, tier, channel switch and the tier's tools. No row when the
-- grant does not exist or is not p_user's.
create or replace function connector_action_context(
    p_grant uuid,
    p_user uuid,
    p_now timestamptz,
    p_stale_before timestamptz
)
returns table (grant_live boolean, scopes text[], tier text, chatgpt_enabled boolean, allowed_tools text[])
language plpgsql
as $$
begin
    update connector_grants
       set last_used_at = p_now
     where id = p_grant and user_id = p_user and revoked_at is null
       and (last_used_at is null or last_used_at <= p_stale_before);
    return query
    select (g.revoked_at is null and c.id is not null),
           g.scopes,
           coalesce(p.tier::text, 'free'),
           coalesce(p.channels -> 'chatgpt' = 'true'::jsonb, false),
           coalesce(t.tools, '{}'::text[])
      from connector_grants g
      left join connector_oauth_clients c on c.id = g.client_id and c.deleted_at is null
      left join profiles p on p.id = g.user_id
      left join connector_tier_tools t on t.tier = coalesce(p.tier::text, 'free')
     where g.id = p_grant and g.user_id = p_user;
end
$$;

-- Store receipts (column arrays, one element per receipt; all or nothing). With
-- p_relaxed the commit of the calling transaction does not wait for the WAL flush
-- (synchronous_commit off for this transaction only): the receipts of reads.
create or replace function connector_insert_receipts(
    p_ids uuid[],
    p_user_ids uuid[],
    p_client_ids text[],
    p_actions text[],
    p_tools text[],
    p_digests text[],
    p_statuses text[],
    p_error_codes text[],
    p_latencies bigint[],
    p_request_ids text[],
    p_approval_ids uuid[],
    p_created timestamptz[],
    p_relaxed boolean
)
returns void
language plpgsql
as $$
begin
    if p_relaxed then
        perform set_config('synchronous_commit', 'off', true);
    end if;
    insert into connector_receipts (id, user_id, client_id, action, mcp_tool, args_digest, status,
                                    error_code, upstream_latency_ms, request_id, approval_id, created_at)
    select * from unnest(p_ids, p_user_ids, p_client_ids, p_actions, p_tools, p_digests, p_statuses,
                         p_error_codes, p_latencies, p_request_ids, p_approval_ids, p_created);
end
$$;
