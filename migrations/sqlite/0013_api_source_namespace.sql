-- API appeals keep their idempotency keys in their own namespace: the source
-- an API caller names is stored as `api:<source>`, so a caller can no longer
-- claim a key (source, external_id) that a form, mailbox, bot or PBX will use.
-- Appeals stored before get the same prefix, so a repeat of an old post is
-- still recognised as a repeat.
UPDATE appeals SET source = 'api:' || source WHERE channel = 'api';
