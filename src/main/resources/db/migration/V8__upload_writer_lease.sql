-- Which process is writing to an upload session right now, and until when its claim holds
-- (renewed while it writes): replicas sharing the database never write one session at once.
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_until TEXT;
