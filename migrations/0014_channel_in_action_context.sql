-- The grant query also reads the grant's client's redirect URIs and the user's `mcp`
-- channel switch, so a tool call from an MCP client other than ChatGPT's (Claude, Claude
-- Code, Cursor, …), whose channel follows from its redirect URIs, is decided in the same
-- one round trip as a GPT action. The return type changes, so the function is dropped and
-- created again inside this migration's transaction (no caller ever finds it missing);
-- the old columns keep their names and order, so a function still running the previous
-- build reads what it read before.
drop function connector_action_context(uuid, uuid, timestamptz, timestamptz);

create function connector_action_context(
    p_grant uuid,
    p_user uuid,
    p_now timestamptz,
    p_stale_before timestamptz
)
returns table (
    grant_live boolean,
    scopes text[],
    tier text,
    chatgpt_enabled boolean,
    allowed_tools text[],
    mcp_enabled boolean,
    client_redirect_uris text[]
)
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
           coalesce(t.tools, '{}'::text[]),
           coalesce(p.channels -> 'mcp' = 'true'::jsonb, false),
           coalesce(c.redirect_uris, '{}'::text[])
      from connector_grants g
      left join connector_oauth_clients c on c.id = g.client_id and c.deleted_at is null
      left join profiles p on p.id = g.user_id
      left join connector_tier_tools t on t.tier = coalesce(p.tier::text, 'free')
     where g.id = p_grant and g.user_id = p_user;
end
$$;
