-- Every receipt is durable before the answer that names it leaves (issue 13): a crash
-- test lost 7 of 458 read receipts to asynchronous commits. The receipts function loses
-- its "relaxed" switch, and it turns an operator's database-wide synchronous_commit=off
-- back on for its own transaction: a receipt id handed to ChatGPT must survive a crash.
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
    p_created timestamptz[]
)
returns void
language plpgsql
as $$
begin
    if current_setting('synchronous_commit') = 'off' then
        perform set_config('synchronous_commit', 'local', true);
    end if;
    insert into connector_receipts (id, user_id, client_id, action, mcp_tool, args_digest, status,
                                    error_code, upstream_latency_ms, request_id, approval_id, created_at)
    select * from unnest(p_ids, p_user_ids, p_client_ids, p_actions, p_tools, p_digests, p_statuses,
                         p_error_codes, p_latencies, p_request_ids, p_approval_ids, p_created);
end
$$;

drop function if exists connector_insert_receipts(
    uuid[], uuid[], text[], text[], text[], text[], text[], text[], bigint[], text[], uuid[], timestamptz[], boolean
);
