-- Reports at a million interests (issue 13): the figures are read from
-- rollups, per local day (and per block of 32 days where a report groups by
-- minutes), kept by triggers in the transaction of every change, so every
-- write path (intake, stage moves, imports, direct fixes) keeps them exact.
-- A report adds the raw rows of the partial days at its period's edges.
-- NULL keys are stored as ''.

-- The offset (ms) that defines a local day for the rollups: day =
-- (at + offset_ms) / 86400000. The daemon sets it from [calendar] timezone
-- at start and rebuilds the rollups when it changes. `live` = 0 pauses the
-- triggers for a bulk load that rebuilds them afterwards.
CREATE TABLE report_zone (
    id        BIGINT PRIMARY KEY,
    offset_ms BIGINT NOT NULL,
    live      BIGINT NOT NULL
);
INSERT INTO report_zone (id, offset_ms, live) VALUES (1, 10800000, 1);

-- An interest that entered a stage more than once: all its entries of that
-- stage carry repeated = 1, so the funnel counts it once by correcting over
-- these few rows only.
ALTER TABLE stage_entries ADD COLUMN repeated BIGINT NOT NULL DEFAULT 0;
CREATE INDEX stage_entries_interest_stage ON stage_entries(interest_id, stage);
CREATE INDEX stage_entries_repeated ON stage_entries(entered_at) WHERE repeated = 1;
UPDATE stage_entries SET repeated = 1 WHERE EXISTS (SELECT 1 FROM stage_entries o
    WHERE o.interest_id = stage_entries.interest_id AND o.scenario = stage_entries.scenario
    AND o.stage = stage_entries.stage AND o.id <> stage_entries.id);

-- Stage entries per local day they were entered (`entered`, `amount`) and left (`left_n`).
CREATE TABLE rollup_stage_days (
    day BIGINT NOT NULL,
    scenario TEXT NOT NULL,
    stage TEXT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    entered BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    left_n BIGINT NOT NULL,
    PRIMARY KEY (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign)
);
-- Stage entries not left yet: the interests in each stage now.
CREATE TABLE rollup_stage_current (
    scenario TEXT NOT NULL,
    stage TEXT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign)
);
-- Interests per local day of creation; of them won by now, and their amounts.
CREATE TABLE rollup_interest_days (
    day BIGINT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    created BIGINT NOT NULL,
    won BIGINT NOT NULL,
    won_amount BIGINT NOT NULL,
    PRIMARY KEY (day, responsible_login, channel, source, utm_source, utm_campaign)
);
-- Interests closed as won or lost per local day of closure.
CREATE TABLE rollup_closed_days (
    day BIGINT NOT NULL,
    status TEXT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    n BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (day, status, responsible_login, channel, source, utm_source, utm_campaign)
);
-- Inbound lead appeals (not spam, rejected, failed) per local day of arrival.
CREATE TABLE rollup_appeal_days (
    day BIGINT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, responsible_login, channel, source, utm_source, utm_campaign)
);
-- Routed lead appeals per local day of arrival and bucket of working minutes to the first action (-1: none yet).
CREATE TABLE rollup_reaction_days (
    day BIGINT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, responsible_login, channel, source, utm_source, utm_campaign, bucket)
);
-- The same per block of 32 local days, so a year reads a dozen blocks' rows.
CREATE TABLE rollup_reaction_blocks (
    block BIGINT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (block, responsible_login, channel, source, utm_source, utm_campaign, bucket)
);
-- Missed inbound calls per local day.
CREATE TABLE rollup_missed_days (
    day BIGINT NOT NULL,
    manager_login TEXT NOT NULL,
    channel_source TEXT NOT NULL,
    n BIGINT NOT NULL,
    called_back BIGINT NOT NULL,
    within_15 BIGINT NOT NULL,
    PRIMARY KEY (day, manager_login, channel_source)
);
-- Missed inbound calls per local day and bucket of working minutes to the callback (-1: none).
CREATE TABLE rollup_callback_days (
    day BIGINT NOT NULL,
    manager_login TEXT NOT NULL,
    channel_source TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, manager_login, channel_source, bucket)
);
-- The same per block of 32 local days.
CREATE TABLE rollup_callback_blocks (
    block BIGINT NOT NULL,
    manager_login TEXT NOT NULL,
    channel_source TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (block, manager_login, channel_source, bucket)
);
-- A manager's activity per local day: calls (with talk seconds), interactions, messages, tasks.
CREATE TABLE rollup_activity_days (
    day BIGINT NOT NULL,
    manager_login TEXT NOT NULL,
    metric TEXT NOT NULL,
    channel_source TEXT NOT NULL,
    n BIGINT NOT NULL,
    secs BIGINT NOT NULL,
    PRIMARY KEY (day, manager_login, metric, channel_source)
);
-- Decided losses per local day of the decision.
CREATE TABLE rollup_loss_days (
    day BIGINT NOT NULL,
    reason TEXT NOT NULL,
    from_stage TEXT NOT NULL,
    state TEXT NOT NULL,
    responsible_login TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    utm_source TEXT NOT NULL,
    utm_campaign TEXT NOT NULL,
    n BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign)
);

-- Existing data.
INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
    SELECT ((entered_at + (SELECT offset_ms FROM report_zone)) / 86400000), scenario, stage, COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT), CAST(SUM(COALESCE(amount, 0)) AS BIGINT), CAST(SUM(0) AS BIGINT) FROM stage_entries WHERE 1 = 1 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
    SELECT ((left_at + (SELECT offset_ms FROM report_zone)) / 86400000), scenario, stage, COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(0) AS BIGINT), CAST(SUM(0) AS BIGINT), CAST(SUM(1) AS BIGINT) FROM stage_entries WHERE left_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
INSERT INTO rollup_stage_current (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, n)
    SELECT scenario, stage, COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT) FROM stage_entries WHERE left_at IS NULL GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_stage_current.n + excluded.n;
INSERT INTO rollup_interest_days (day, responsible_login, channel, source, utm_source, utm_campaign, created, won, won_amount)
    SELECT ((created_at + (SELECT offset_ms FROM report_zone)) / 86400000), COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT), CAST(SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN status = 'won' THEN COALESCE(potential_amount, 0) ELSE 0 END) AS BIGINT) FROM interests WHERE 1 = 1 GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET created = rollup_interest_days.created + excluded.created, won = rollup_interest_days.won + excluded.won, won_amount = rollup_interest_days.won_amount + excluded.won_amount;
INSERT INTO rollup_closed_days (day, status, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
    SELECT ((closed_at + (SELECT offset_ms FROM report_zone)) / 86400000), status, COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT), CAST(SUM(COALESCE(potential_amount, 0)) AS BIGINT) FROM interests WHERE status IN ('won', 'lost') AND closed_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (day, status, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_closed_days.n + excluded.n, amount = rollup_closed_days.amount + excluded.amount;
INSERT INTO rollup_appeal_days (day, responsible_login, channel, source, utm_source, utm_campaign, n)
    SELECT ((received_at + (SELECT offset_ms FROM report_zone)) / 86400000), COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT) FROM appeals WHERE lead = 1 AND status NOT IN ('spam', 'rejected', 'failed') GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_appeal_days.n + excluded.n;
INSERT INTO rollup_reaction_days (day, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
    SELECT ((received_at + (SELECT offset_ms FROM report_zone)) / 86400000), COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CASE WHEN first_action_minutes IS NULL THEN -1 WHEN first_action_minutes < 120 THEN first_action_minutes WHEN first_action_minutes < 1080 THEN first_action_minutes - first_action_minutes % 10 WHEN first_action_minutes < 10800 THEN first_action_minutes - first_action_minutes % 60 ELSE 10800 END, CAST(SUM(1) AS BIGINT) FROM appeals WHERE lead = 1 AND status IN ('linked', 'created') GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_days.n + excluded.n;
INSERT INTO rollup_reaction_blocks (block, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
    SELECT (((received_at + (SELECT offset_ms FROM report_zone)) / 86400000) / 32), COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CASE WHEN first_action_minutes IS NULL THEN -1 WHEN first_action_minutes < 120 THEN first_action_minutes WHEN first_action_minutes < 1080 THEN first_action_minutes - first_action_minutes % 10 WHEN first_action_minutes < 10800 THEN first_action_minutes - first_action_minutes % 60 ELSE 10800 END, CAST(SUM(1) AS BIGINT) FROM appeals WHERE lead = 1 AND status IN ('linked', 'created') GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (block, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_blocks.n + excluded.n;
INSERT INTO rollup_missed_days (day, manager_login, channel_source, n, called_back, within_15)
    SELECT ((at + (SELECT offset_ms FROM report_zone)) / 86400000), COALESCE(manager_login, ''), channel_source, CAST(SUM(1) AS BIGINT), CAST(SUM(CASE WHEN callback_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN callback_minutes <= 15 THEN 1 ELSE 0 END) AS BIGINT) FROM call_log WHERE direction = 'inbound' AND answered = 0 GROUP BY 1, 2, 3
    ON CONFLICT (day, manager_login, channel_source) DO UPDATE SET n = rollup_missed_days.n + excluded.n, called_back = rollup_missed_days.called_back + excluded.called_back, within_15 = rollup_missed_days.within_15 + excluded.within_15;
INSERT INTO rollup_callback_days (day, manager_login, channel_source, bucket, n)
    SELECT ((at + (SELECT offset_ms FROM report_zone)) / 86400000), COALESCE(manager_login, ''), channel_source, CASE WHEN callback_minutes IS NULL THEN -1 WHEN callback_minutes < 120 THEN callback_minutes WHEN callback_minutes < 1080 THEN callback_minutes - callback_minutes % 10 WHEN callback_minutes < 10800 THEN callback_minutes - callback_minutes % 60 ELSE 10800 END, CAST(SUM(1) AS BIGINT) FROM call_log WHERE direction = 'inbound' AND answered = 0 GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_days.n + excluded.n;
INSERT INTO rollup_callback_blocks (block, manager_login, channel_source, bucket, n)
    SELECT (((at + (SELECT offset_ms FROM report_zone)) / 86400000) / 32), COALESCE(manager_login, ''), channel_source, CASE WHEN callback_minutes IS NULL THEN -1 WHEN callback_minutes < 120 THEN callback_minutes WHEN callback_minutes < 1080 THEN callback_minutes - callback_minutes % 10 WHEN callback_minutes < 10800 THEN callback_minutes - callback_minutes % 60 ELSE 10800 END, CAST(SUM(1) AS BIGINT) FROM call_log WHERE direction = 'inbound' AND answered = 0 GROUP BY 1, 2, 3, 4
    ON CONFLICT (block, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_blocks.n + excluded.n;
INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
    SELECT ((at + (SELECT offset_ms FROM report_zone)) / 86400000), manager_login, CASE WHEN direction = 'inbound' THEN 'call_in' ELSE 'call_out' END, channel_source, CAST(SUM(1) AS BIGINT), CAST(SUM(talk_secs) AS BIGINT) FROM call_log WHERE (direction = 'outbound' OR answered = 1) AND manager_login IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
    SELECT ((done_at + (SELECT offset_ms FROM report_zone)) / 86400000), author, kind, '', CAST(SUM(1) AS BIGINT), CAST(SUM(0) AS BIGINT) FROM interactions WHERE kind IN ('meeting', 'email', 'message') AND author IS NOT NULL AND done_at IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
    SELECT ((created_at + (SELECT offset_ms FROM report_zone)) / 86400000), author, 'sent', '', CAST(SUM(1) AS BIGINT), CAST(SUM(0) AS BIGINT) FROM messenger_outbox WHERE author IS NOT NULL AND kind = 'reply' GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
    SELECT ((done_at + (SELECT offset_ms FROM report_zone)) / 86400000), done_by, 'task_done', '', CAST(SUM(1) AS BIGINT), CAST(SUM(0) AS BIGINT) FROM tasks WHERE status = 'done' AND done_by IS NOT NULL AND done_by <> 'leadgate' AND done_at IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
    SELECT ((due_at + (SELECT offset_ms FROM report_zone)) / 86400000), assignee_login, 'task_overdue', '', CAST(SUM(1) AS BIGINT), CAST(SUM(0) AS BIGINT) FROM tasks WHERE assignee_login IS NOT NULL AND due_at IS NOT NULL AND (done_at IS NULL OR done_at > due_at) GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
INSERT INTO rollup_loss_days (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
    SELECT ((decided_at + (SELECT offset_ms FROM report_zone)) / 86400000), reason, from_stage, state, COALESCE(responsible_login, ''), COALESCE(channel, ''), COALESCE(source, ''), COALESCE(utm_source, ''), COALESCE(utm_campaign, ''), CAST(SUM(1) AS BIGINT), CAST(SUM(COALESCE(amount, 0)) AS BIGINT) FROM losses WHERE state <> 'pending' AND decided_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ON CONFLICT (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_loss_days.n + excluded.n, amount = rollup_loss_days.amount + excluded.amount;

-- Kept in the transaction of every change.
CREATE FUNCTION stage_entries_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
            SELECT ((OLD.entered_at + z) / 86400000), OLD.scenario, OLD.stage, COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1), -(COALESCE(OLD.amount, 0)), -(0) WHERE 1 = 1
            ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
    INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
            SELECT ((OLD.left_at + z) / 86400000), OLD.scenario, OLD.stage, COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(0), -(0), -(1) WHERE OLD.left_at IS NOT NULL
            ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
    INSERT INTO rollup_stage_current (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, n)
            SELECT OLD.scenario, OLD.stage, COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1) WHERE OLD.left_at IS NULL
            ON CONFLICT (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_stage_current.n + excluded.n;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
            SELECT ((NEW.entered_at + z) / 86400000), NEW.scenario, NEW.stage, COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1, COALESCE(NEW.amount, 0), 0 WHERE 1 = 1
            ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
    INSERT INTO rollup_stage_days (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, entered, amount, left_n)
            SELECT ((NEW.left_at + z) / 86400000), NEW.scenario, NEW.stage, COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 0, 0, 1 WHERE NEW.left_at IS NOT NULL
            ON CONFLICT (day, scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET entered = rollup_stage_days.entered + excluded.entered, amount = rollup_stage_days.amount + excluded.amount, left_n = rollup_stage_days.left_n + excluded.left_n;
    INSERT INTO rollup_stage_current (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign, n)
            SELECT NEW.scenario, NEW.stage, COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1 WHERE NEW.left_at IS NULL
            ON CONFLICT (scenario, stage, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_stage_current.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER stage_entries_rollup AFTER INSERT OR DELETE OR UPDATE OF scenario, stage, entered_at, left_at, amount, responsible_login, channel, source, utm_source, utm_campaign ON stage_entries
    FOR EACH ROW EXECUTE FUNCTION stage_entries_rollup();

CREATE FUNCTION interests_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_interest_days (day, responsible_login, channel, source, utm_source, utm_campaign, created, won, won_amount)
            SELECT ((OLD.created_at + z) / 86400000), COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1), -(CASE WHEN OLD.status = 'won' THEN 1 ELSE 0 END), -(CASE WHEN OLD.status = 'won' THEN COALESCE(OLD.potential_amount, 0) ELSE 0 END) WHERE 1 = 1
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET created = rollup_interest_days.created + excluded.created, won = rollup_interest_days.won + excluded.won, won_amount = rollup_interest_days.won_amount + excluded.won_amount;
    INSERT INTO rollup_closed_days (day, status, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
            SELECT ((OLD.closed_at + z) / 86400000), OLD.status, COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1), -(COALESCE(OLD.potential_amount, 0)) WHERE OLD.status IN ('won', 'lost') AND OLD.closed_at IS NOT NULL
            ON CONFLICT (day, status, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_closed_days.n + excluded.n, amount = rollup_closed_days.amount + excluded.amount;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_interest_days (day, responsible_login, channel, source, utm_source, utm_campaign, created, won, won_amount)
            SELECT ((NEW.created_at + z) / 86400000), COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1, CASE WHEN NEW.status = 'won' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'won' THEN COALESCE(NEW.potential_amount, 0) ELSE 0 END WHERE 1 = 1
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET created = rollup_interest_days.created + excluded.created, won = rollup_interest_days.won + excluded.won, won_amount = rollup_interest_days.won_amount + excluded.won_amount;
    INSERT INTO rollup_closed_days (day, status, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
            SELECT ((NEW.closed_at + z) / 86400000), NEW.status, COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1, COALESCE(NEW.potential_amount, 0) WHERE NEW.status IN ('won', 'lost') AND NEW.closed_at IS NOT NULL
            ON CONFLICT (day, status, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_closed_days.n + excluded.n, amount = rollup_closed_days.amount + excluded.amount;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER interests_rollup AFTER INSERT OR DELETE OR UPDATE OF created_at, closed_at, status, potential_amount, responsible_login, channel, source, utm_source, utm_campaign ON interests
    FOR EACH ROW EXECUTE FUNCTION interests_rollup();

CREATE FUNCTION appeals_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_appeal_days (day, responsible_login, channel, source, utm_source, utm_campaign, n)
            SELECT ((OLD.received_at + z) / 86400000), COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1) WHERE OLD.lead = 1 AND OLD.status NOT IN ('spam', 'rejected', 'failed')
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_appeal_days.n + excluded.n;
    INSERT INTO rollup_reaction_days (day, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
            SELECT ((OLD.received_at + z) / 86400000), COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), CASE WHEN OLD.first_action_minutes IS NULL THEN -1 WHEN OLD.first_action_minutes < 120 THEN OLD.first_action_minutes WHEN OLD.first_action_minutes < 1080 THEN OLD.first_action_minutes - OLD.first_action_minutes % 10 WHEN OLD.first_action_minutes < 10800 THEN OLD.first_action_minutes - OLD.first_action_minutes % 60 ELSE 10800 END, -(1) WHERE OLD.lead = 1 AND OLD.status IN ('linked', 'created')
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_days.n + excluded.n;
    INSERT INTO rollup_reaction_blocks (block, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
            SELECT (((OLD.received_at + z) / 86400000) / 32), COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), CASE WHEN OLD.first_action_minutes IS NULL THEN -1 WHEN OLD.first_action_minutes < 120 THEN OLD.first_action_minutes WHEN OLD.first_action_minutes < 1080 THEN OLD.first_action_minutes - OLD.first_action_minutes % 10 WHEN OLD.first_action_minutes < 10800 THEN OLD.first_action_minutes - OLD.first_action_minutes % 60 ELSE 10800 END, -(1) WHERE OLD.lead = 1 AND OLD.status IN ('linked', 'created')
            ON CONFLICT (block, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_blocks.n + excluded.n;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_appeal_days (day, responsible_login, channel, source, utm_source, utm_campaign, n)
            SELECT ((NEW.received_at + z) / 86400000), COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1 WHERE NEW.lead = 1 AND NEW.status NOT IN ('spam', 'rejected', 'failed')
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_appeal_days.n + excluded.n;
    INSERT INTO rollup_reaction_days (day, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
            SELECT ((NEW.received_at + z) / 86400000), COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), CASE WHEN NEW.first_action_minutes IS NULL THEN -1 WHEN NEW.first_action_minutes < 120 THEN NEW.first_action_minutes WHEN NEW.first_action_minutes < 1080 THEN NEW.first_action_minutes - NEW.first_action_minutes % 10 WHEN NEW.first_action_minutes < 10800 THEN NEW.first_action_minutes - NEW.first_action_minutes % 60 ELSE 10800 END, 1 WHERE NEW.lead = 1 AND NEW.status IN ('linked', 'created')
            ON CONFLICT (day, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_days.n + excluded.n;
    INSERT INTO rollup_reaction_blocks (block, responsible_login, channel, source, utm_source, utm_campaign, bucket, n)
            SELECT (((NEW.received_at + z) / 86400000) / 32), COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), CASE WHEN NEW.first_action_minutes IS NULL THEN -1 WHEN NEW.first_action_minutes < 120 THEN NEW.first_action_minutes WHEN NEW.first_action_minutes < 1080 THEN NEW.first_action_minutes - NEW.first_action_minutes % 10 WHEN NEW.first_action_minutes < 10800 THEN NEW.first_action_minutes - NEW.first_action_minutes % 60 ELSE 10800 END, 1 WHERE NEW.lead = 1 AND NEW.status IN ('linked', 'created')
            ON CONFLICT (block, responsible_login, channel, source, utm_source, utm_campaign, bucket) DO UPDATE SET n = rollup_reaction_blocks.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER appeals_rollup AFTER INSERT OR DELETE OR UPDATE OF received_at, lead, status, first_action_minutes, responsible_login, channel, source, utm_source, utm_campaign ON appeals
    FOR EACH ROW EXECUTE FUNCTION appeals_rollup();

CREATE FUNCTION call_log_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_missed_days (day, manager_login, channel_source, n, called_back, within_15)
            SELECT ((OLD.at + z) / 86400000), COALESCE(OLD.manager_login, ''), OLD.channel_source, -(1), -(CASE WHEN OLD.callback_at IS NOT NULL THEN 1 ELSE 0 END), -(CASE WHEN OLD.callback_minutes <= 15 THEN 1 ELSE 0 END) WHERE OLD.direction = 'inbound' AND OLD.answered = 0
            ON CONFLICT (day, manager_login, channel_source) DO UPDATE SET n = rollup_missed_days.n + excluded.n, called_back = rollup_missed_days.called_back + excluded.called_back, within_15 = rollup_missed_days.within_15 + excluded.within_15;
    INSERT INTO rollup_callback_days (day, manager_login, channel_source, bucket, n)
            SELECT ((OLD.at + z) / 86400000), COALESCE(OLD.manager_login, ''), OLD.channel_source, CASE WHEN OLD.callback_minutes IS NULL THEN -1 WHEN OLD.callback_minutes < 120 THEN OLD.callback_minutes WHEN OLD.callback_minutes < 1080 THEN OLD.callback_minutes - OLD.callback_minutes % 10 WHEN OLD.callback_minutes < 10800 THEN OLD.callback_minutes - OLD.callback_minutes % 60 ELSE 10800 END, -(1) WHERE OLD.direction = 'inbound' AND OLD.answered = 0
            ON CONFLICT (day, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_days.n + excluded.n;
    INSERT INTO rollup_callback_blocks (block, manager_login, channel_source, bucket, n)
            SELECT (((OLD.at + z) / 86400000) / 32), COALESCE(OLD.manager_login, ''), OLD.channel_source, CASE WHEN OLD.callback_minutes IS NULL THEN -1 WHEN OLD.callback_minutes < 120 THEN OLD.callback_minutes WHEN OLD.callback_minutes < 1080 THEN OLD.callback_minutes - OLD.callback_minutes % 10 WHEN OLD.callback_minutes < 10800 THEN OLD.callback_minutes - OLD.callback_minutes % 60 ELSE 10800 END, -(1) WHERE OLD.direction = 'inbound' AND OLD.answered = 0
            ON CONFLICT (block, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_blocks.n + excluded.n;
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((OLD.at + z) / 86400000), OLD.manager_login, CASE WHEN OLD.direction = 'inbound' THEN 'call_in' ELSE 'call_out' END, OLD.channel_source, -(1), -(OLD.talk_secs) WHERE (OLD.direction = 'outbound' OR OLD.answered = 1) AND OLD.manager_login IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_missed_days (day, manager_login, channel_source, n, called_back, within_15)
            SELECT ((NEW.at + z) / 86400000), COALESCE(NEW.manager_login, ''), NEW.channel_source, 1, CASE WHEN NEW.callback_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN NEW.callback_minutes <= 15 THEN 1 ELSE 0 END WHERE NEW.direction = 'inbound' AND NEW.answered = 0
            ON CONFLICT (day, manager_login, channel_source) DO UPDATE SET n = rollup_missed_days.n + excluded.n, called_back = rollup_missed_days.called_back + excluded.called_back, within_15 = rollup_missed_days.within_15 + excluded.within_15;
    INSERT INTO rollup_callback_days (day, manager_login, channel_source, bucket, n)
            SELECT ((NEW.at + z) / 86400000), COALESCE(NEW.manager_login, ''), NEW.channel_source, CASE WHEN NEW.callback_minutes IS NULL THEN -1 WHEN NEW.callback_minutes < 120 THEN NEW.callback_minutes WHEN NEW.callback_minutes < 1080 THEN NEW.callback_minutes - NEW.callback_minutes % 10 WHEN NEW.callback_minutes < 10800 THEN NEW.callback_minutes - NEW.callback_minutes % 60 ELSE 10800 END, 1 WHERE NEW.direction = 'inbound' AND NEW.answered = 0
            ON CONFLICT (day, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_days.n + excluded.n;
    INSERT INTO rollup_callback_blocks (block, manager_login, channel_source, bucket, n)
            SELECT (((NEW.at + z) / 86400000) / 32), COALESCE(NEW.manager_login, ''), NEW.channel_source, CASE WHEN NEW.callback_minutes IS NULL THEN -1 WHEN NEW.callback_minutes < 120 THEN NEW.callback_minutes WHEN NEW.callback_minutes < 1080 THEN NEW.callback_minutes - NEW.callback_minutes % 10 WHEN NEW.callback_minutes < 10800 THEN NEW.callback_minutes - NEW.callback_minutes % 60 ELSE 10800 END, 1 WHERE NEW.direction = 'inbound' AND NEW.answered = 0
            ON CONFLICT (block, manager_login, channel_source, bucket) DO UPDATE SET n = rollup_callback_blocks.n + excluded.n;
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((NEW.at + z) / 86400000), NEW.manager_login, CASE WHEN NEW.direction = 'inbound' THEN 'call_in' ELSE 'call_out' END, NEW.channel_source, 1, NEW.talk_secs WHERE (NEW.direction = 'outbound' OR NEW.answered = 1) AND NEW.manager_login IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_log_rollup AFTER INSERT OR DELETE OR UPDATE OF at, direction, answered, talk_secs, manager_login, channel_source, callback_at, callback_minutes ON call_log
    FOR EACH ROW EXECUTE FUNCTION call_log_rollup();

CREATE FUNCTION interactions_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((OLD.done_at + z) / 86400000), OLD.author, OLD.kind, '', -(1), -(0) WHERE OLD.kind IN ('meeting', 'email', 'message') AND OLD.author IS NOT NULL AND OLD.done_at IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((NEW.done_at + z) / 86400000), NEW.author, NEW.kind, '', 1, 0 WHERE NEW.kind IN ('meeting', 'email', 'message') AND NEW.author IS NOT NULL AND NEW.done_at IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER interactions_rollup AFTER INSERT OR DELETE OR UPDATE OF done_at, kind, author ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_rollup();

CREATE FUNCTION messenger_outbox_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((OLD.created_at + z) / 86400000), OLD.author, 'sent', '', -(1), -(0) WHERE OLD.author IS NOT NULL AND OLD.kind = 'reply'
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((NEW.created_at + z) / 86400000), NEW.author, 'sent', '', 1, 0 WHERE NEW.author IS NOT NULL AND NEW.kind = 'reply'
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER messenger_outbox_rollup AFTER INSERT OR DELETE OR UPDATE OF created_at, kind, author ON messenger_outbox
    FOR EACH ROW EXECUTE FUNCTION messenger_outbox_rollup();

CREATE FUNCTION tasks_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((OLD.done_at + z) / 86400000), OLD.done_by, 'task_done', '', -(1), -(0) WHERE OLD.status = 'done' AND OLD.done_by IS NOT NULL AND OLD.done_by <> 'leadgate' AND OLD.done_at IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((OLD.due_at + z) / 86400000), OLD.assignee_login, 'task_overdue', '', -(1), -(0) WHERE OLD.assignee_login IS NOT NULL AND OLD.due_at IS NOT NULL AND (OLD.done_at IS NULL OR OLD.done_at > OLD.due_at)
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((NEW.done_at + z) / 86400000), NEW.done_by, 'task_done', '', 1, 0 WHERE NEW.status = 'done' AND NEW.done_by IS NOT NULL AND NEW.done_by <> 'leadgate' AND NEW.done_at IS NOT NULL
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    INSERT INTO rollup_activity_days (day, manager_login, metric, channel_source, n, secs)
            SELECT ((NEW.due_at + z) / 86400000), NEW.assignee_login, 'task_overdue', '', 1, 0 WHERE NEW.assignee_login IS NOT NULL AND NEW.due_at IS NOT NULL AND (NEW.done_at IS NULL OR NEW.done_at > NEW.due_at)
            ON CONFLICT (day, manager_login, metric, channel_source) DO UPDATE SET n = rollup_activity_days.n + excluded.n, secs = rollup_activity_days.secs + excluded.secs;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_rollup AFTER INSERT OR DELETE OR UPDATE OF status, done_at, done_by, due_at, assignee_login ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_rollup();

CREATE FUNCTION losses_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z BIGINT;
    on_ BIGINT;
BEGIN
    SELECT offset_ms, live INTO z, on_ FROM report_zone;
    IF on_ IS DISTINCT FROM 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
    INSERT INTO rollup_loss_days (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
            SELECT ((OLD.decided_at + z) / 86400000), OLD.reason, OLD.from_stage, OLD.state, COALESCE(OLD.responsible_login, ''), COALESCE(OLD.channel, ''), COALESCE(OLD.source, ''), COALESCE(OLD.utm_source, ''), COALESCE(OLD.utm_campaign, ''), -(1), -(COALESCE(OLD.amount, 0)) WHERE OLD.state <> 'pending' AND OLD.decided_at IS NOT NULL
            ON CONFLICT (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_loss_days.n + excluded.n, amount = rollup_loss_days.amount + excluded.amount;
    END IF;
    IF TG_OP <> 'DELETE' THEN
    INSERT INTO rollup_loss_days (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign, n, amount)
            SELECT ((NEW.decided_at + z) / 86400000), NEW.reason, NEW.from_stage, NEW.state, COALESCE(NEW.responsible_login, ''), COALESCE(NEW.channel, ''), COALESCE(NEW.source, ''), COALESCE(NEW.utm_source, ''), COALESCE(NEW.utm_campaign, ''), 1, COALESCE(NEW.amount, 0) WHERE NEW.state <> 'pending' AND NEW.decided_at IS NOT NULL
            ON CONFLICT (day, reason, from_stage, state, responsible_login, channel, source, utm_source, utm_campaign) DO UPDATE SET n = rollup_loss_days.n + excluded.n, amount = rollup_loss_days.amount + excluded.amount;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER losses_rollup AFTER INSERT OR DELETE OR UPDATE OF decided_at, reason, from_stage, state, amount, responsible_login, channel, source, utm_source, utm_campaign ON losses
    FOR EACH ROW EXECUTE FUNCTION losses_rollup();
CREATE FUNCTION stage_entries_repeated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stage_entries SET repeated = 1 WHERE interest_id = NEW.interest_id
        AND scenario = NEW.scenario AND stage = NEW.stage AND repeated = 0
        AND EXISTS (SELECT 1 FROM stage_entries o WHERE o.interest_id = NEW.interest_id
            AND o.scenario = NEW.scenario AND o.stage = NEW.stage AND o.id <> NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER stage_entries_repeated AFTER INSERT ON stage_entries
    FOR EACH ROW EXECUTE FUNCTION stage_entries_repeated();

-- The review queue's report reads its items alone: the appeal's arrival
-- and origin are copied onto the item (kept when the appeal changes), so
-- no report joins a year of items with a million appeals.
ALTER TABLE review_items ADD COLUMN received_at BIGINT;
ALTER TABLE review_items ADD COLUMN channel TEXT;
ALTER TABLE review_items ADD COLUMN source TEXT;
ALTER TABLE review_items ADD COLUMN utm_source TEXT;
ALTER TABLE review_items ADD COLUMN utm_campaign TEXT;
UPDATE review_items SET (received_at, channel, source, utm_source, utm_campaign) =
    (SELECT a.received_at, a.channel, a.source, a.utm_source, a.utm_campaign FROM appeals a
     WHERE a.id = review_items.appeal_id);
CREATE FUNCTION review_items_origin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.received_at, a.channel, a.source, a.utm_source, a.utm_campaign
        INTO NEW.received_at, NEW.channel, NEW.source, NEW.utm_source, NEW.utm_campaign
        FROM appeals a WHERE a.id = NEW.appeal_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER review_items_origin BEFORE INSERT ON review_items
    FOR EACH ROW EXECUTE FUNCTION review_items_origin();
CREATE FUNCTION appeals_review_origin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE review_items SET received_at = NEW.received_at, channel = NEW.channel, source = NEW.source,
        utm_source = NEW.utm_source, utm_campaign = NEW.utm_campaign WHERE appeal_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER appeals_review_origin AFTER UPDATE OF received_at, channel, source, utm_source, utm_campaign ON appeals
    FOR EACH ROW EXECUTE FUNCTION appeals_review_origin();
