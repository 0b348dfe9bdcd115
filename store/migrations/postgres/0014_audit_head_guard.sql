-- The chain's head is protected like the entries, and moved by the database itself.
--
-- An AFTER INSERT trigger on audit_log advances audit_head to the new entry. Its
-- function is SECURITY DEFINER (it runs as the owner role that ran this migration), so
-- the application's role needs no UPDATE on audit_head: it may only INSERT and SELECT
-- audit rows (store::db::grant_application_role). The head is never deleted or
-- truncated and only ever advances by one, to an entry of audit_log with that hash; an
-- entry that does not extend the chain from the head is refused.
CREATE FUNCTION audit_head_advance() RETURNS trigger
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    head_seq BIGINT;
    head_hash TEXT;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        IF NEW.seq <> 1 THEN
            RAISE EXCEPTION 'audit_log: entry % does not start the chain', NEW.seq;
        END IF;
        INSERT INTO audit_head (id, seq, hash) VALUES (1, NEW.seq, NEW.hash);
    ELSIF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit_log: entry % does not extend the chain from its head (entry %)',
            NEW.seq, head_seq;
    ELSE
        UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_head_advance();

CREATE FUNCTION audit_head_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq = OLD.seq + 1
        AND NEW.hash = (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_head only advances to the next entry of audit_log: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard();
