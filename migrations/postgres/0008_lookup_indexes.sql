-- Lookups the pipeline makes for every appeal must not scan: whether an appeal
-- already left its mark (re-processing guard), an interest's or a client's
-- appeals, and the outbox rows of an appeal.
CREATE INDEX feed_entries_appeal ON feed_entries(appeal_id);
CREATE INDEX appeals_interest ON appeals(interest_id);
CREATE INDEX appeals_client ON appeals(client_id);
CREATE INDEX mail_outbox_appeal ON mail_outbox(appeal_id);
CREATE INDEX messenger_outbox_appeal ON messenger_outbox(appeal_id);
