-- Envelopes whose handling is done, for consumers that must apply an envelope's effect once
-- although the bus may deliver it again (at-least-once): a consumer inserts the id in the
-- transaction of the effect, and a second delivery finds it. `handler` names who processed it
-- (the feature handler or consumer group); `processed_at` is UTC ISO-8601 text like every time here.

ALTER TABLE onex_processed_envelopes ADD COLUMN handler TEXT NOT NULL DEFAULT '';
