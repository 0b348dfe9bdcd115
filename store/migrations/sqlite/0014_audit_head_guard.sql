-- The chain's head is protected like the entries: it is never deleted, and it only
-- ever moves to the next entry of audit_log with that entry's hash (what careflow's
-- append does in the entry's transaction). Moving it anywhere else, as a rewrite of
-- the trail must, takes dropping these triggers first.
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head: DELETE refused'); END;
CREATE TRIGGER audit_head_first BEFORE INSERT ON audit_head
WHEN NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
  OR EXISTS (SELECT 1 FROM audit_log WHERE seq > NEW.seq)
BEGIN SELECT RAISE(ABORT, 'audit_head: must name the last entry of audit_log with its hash'); END;
CREATE TRIGGER audit_head_advance BEFORE UPDATE ON audit_head
WHEN NEW.seq IS NOT OLD.seq + 1
  OR NEW.hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'audit_head: only advances to the next entry of audit_log'); END;
