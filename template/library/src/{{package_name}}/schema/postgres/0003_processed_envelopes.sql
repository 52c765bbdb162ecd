-- Envelopes whose handling is done, for consumers that apply an envelope's effect once although
-- the bus may deliver it again (mirrors sqlite/0003_processed_envelopes.sql).

ALTER TABLE onex_processed_envelopes ADD COLUMN IF NOT EXISTS handler TEXT NOT NULL DEFAULT '';
