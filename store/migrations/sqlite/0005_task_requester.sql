-- Separation of duties: the person who asked for the work a task approves. The
-- recording step refuses a decision by them (NULL on tasks opened before this column).
ALTER TABLE tasks ADD COLUMN requested_by TEXT;
