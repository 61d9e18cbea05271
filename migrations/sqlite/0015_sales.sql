-- «Мои продажи»: what a manager typed when a task was completed (by hand or
-- by a manual move that left its stage), and indexes for the board's columns
-- and the recently closed interests.
ALTER TABLE tasks ADD COLUMN result TEXT;
CREATE INDEX interests_board ON interests(status, stage, responsible_login);
CREATE INDEX interests_status_closed ON interests(status, closed_at);
CREATE INDEX mail_outbox_interest ON mail_outbox(interest_id);
CREATE INDEX messenger_outbox_interest ON messenger_outbox(interest_id);
CREATE INDEX calls_interest ON calls(interest_id);
