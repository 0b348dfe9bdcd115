-- The ethics sign-off of a model release is an amendment to the project that owns the
-- model, reviewed by the ethics committee: the release keeps that submission's id.
ALTER TABLE model_releases RENAME COLUMN signoff_task_id TO signoff_submission_id;
