-- An HL7 admit (A01) into a managed ward without a bed, or into a bed careflow holds
-- for another admission, hands its stay to careflow's admission workflow
-- (store/src/adt.rs): the stay's admission id (`ADT-WF-...`, from the sender and MSH-10
-- only), and the held bed with the workflow holding it. Ids only, no patient data.
ALTER TABLE adt_events ADD COLUMN admission_workflow TEXT;
ALTER TABLE adt_events ADD COLUMN contested_bed TEXT;
ALTER TABLE adt_events ADD COLUMN contested_by TEXT;
