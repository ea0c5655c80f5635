"""Topic names. Each ends in the major version of what it carries."""

FACILITY_EVENTS = "mch.facility-events.v1"
RECORDS = "mch.records.v1"
IMMUNIZATION = "mch.immunization.v1"
GROWTH = "mch.growth.v1"
DEAD_LETTERS = "mch.dead-letters.v1"

ALL = (FACILITY_EVENTS, RECORDS, IMMUNIZATION, GROWTH, DEAD_LETTERS)
