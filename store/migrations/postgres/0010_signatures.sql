-- Passwords, expiring API tokens and electronic signatures.
--
-- users: the bearer token column goes (tokens now live in api_tokens, many per user,
-- each with an expiry); each user gets the name printed on their signatures, an
-- argon2id password hash (PHC string; NULL until a password is set: no login, no
-- signing), and the count of failed password attempts in a row with the lock-out they
-- lead to. (The SQLite migration rebuilds the table to the same shape.)
ALTER TABLE users DROP COLUMN token_sha256;
ALTER TABLE users ADD COLUMN printed_name TEXT;
UPDATE users SET printed_name = user_name;
ALTER TABLE users ALTER COLUMN printed_name SET NOT NULL;
ALTER TABLE users ADD COLUMN password_phc TEXT;
ALTER TABLE users ADD COLUMN password_changed_at TEXT;
ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
-- API tokens, stored as SHA-256 only (the token is 256 random bits): issued at login,
-- valid until expires_at unless revoked (logout, an admin, a password change).
CREATE TABLE api_tokens (
    token_sha256  TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_name);
-- A signature: the signer re-entered their password to sign `subject` (`task/ID`)
-- with a meaning; signed_sha256 is the SHA-256 of what they saw and decided. Used once:
-- the decision it signs links it (tasks.signature_id) in the transaction that records
-- the decision.
CREATE TABLE signatures (
    signature_id   TEXT PRIMARY KEY,
    signer         TEXT NOT NULL,
    printed_name   TEXT NOT NULL,
    signer_role    TEXT NOT NULL,
    signed_at      TEXT NOT NULL,
    meaning        TEXT NOT NULL CHECK (meaning IN ('approved','rejected','reviewed','responsible')),
    subject        TEXT NOT NULL,
    signed_sha256  TEXT NOT NULL,
    used_at        TEXT
);
CREATE INDEX signatures_by_subject ON signatures(subject);
ALTER TABLE tasks ADD COLUMN signature_id TEXT;
CREATE UNIQUE INDEX tasks_one_decision_per_signature ON tasks(signature_id) WHERE signature_id IS NOT NULL;
