-- Entitlements are not the user's to write.
--
-- A profile's tier and channels (channels.chatgpt gates linking) decide what ChatGPT may
-- do with someone's wallets. They live in Dexter's public.profiles, and Supabase projects
-- commonly let users update their own profile row (a policy `using (auth.uid() = id)`,
-- on top of the table-level UPDATE that Supabase grants anon and authenticated). A
-- column-level REVOKE would not help against that table-level grant. So a trigger refuses
-- any change of tier or channels made by a role that row level security applies to (a
-- role that is not a superuser, has no BYPASSRLS and does not own the table): Supabase's
-- anon and authenticated, whatever their policies allow. Dexter's backend (service_role),
-- the connector and operators (postgres, the owner) are unaffected, as are SECURITY
-- DEFINER functions owned by them.
--
-- For such a role an insert must leave tier and channels at their defaults ('free', no
-- channels), and an update must leave them as they are; other columns stay theirs to
-- change as their policies allow.
create or replace function connector_guard_entitlements()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    privileged boolean;
begin
    select r.rolsuper or r.rolbypassrls
           or pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')
      into privileged
      from pg_catalog.pg_roles r, pg_catalog.pg_class c
     where r.rolname = current_user and c.oid = tg_relid;
    if coalesce(privileged, false) then
        return new;
    end if;
    if tg_op = 'INSERT' then
        if new.tier::text is distinct from 'free'
           or coalesce(new.channels, '{}'::jsonb) <> '{}'::jsonb then
            raise exception 'tier and channels are entitlements: Dexter sets them, not the user'
                using errcode = 'insufficient_privilege';
        end if;
    elsif new.tier is distinct from old.tier or new.channels is distinct from old.channels then
        raise exception 'tier and channels are entitlements: Dexter sets them, not the user'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end
$$;

drop trigger if exists connector_guard_entitlements on profiles;
create trigger connector_guard_entitlements
    before insert or update on profiles
    for each row execute function connector_guard_entitlements();
