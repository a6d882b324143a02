-- How many times the target refused an outbox item outright (an answer, not a timeout). Many
-- targets replay the first answer to a key they have seen (QuickBooks' requestid, Idempotency-Key
-- headers, Sage Intacct's control id): sent again after a refusal under the same key, a document
-- would get the same refusal back for good, whatever was put right since. A refusal means nothing
-- was written, so the next attempt goes under a key derived from this count (src/sync/outbound.ts).
ALTER TABLE outbox ADD COLUMN refusals integer NOT NULL DEFAULT 0;
