"""Every event type of the platform: its name, its data model, the topic it travels on."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from . import topics
from .contracts import facility, growth, immunization, records


@dataclass(frozen=True)
class EventType:
    name: str
    model: type[BaseModel]
    topic: str
    subject_field: str
    """The field naming the record or person the event is about (the Kafka key's source)."""
    description: str


def _t(name: str, model: type[BaseModel], topic: str, subject: str, description: str) -> EventType:
    return EventType(name, model, topic, subject, description)


FACILITY = topics.FACILITY_EVENTS
EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        _t(
            "vn.mch.mother.registered.v1",
            facility.MotherRegistered,
            FACILITY,
            "mother_id",
            "A woman is registered in the handbook (first antenatal contact or enrolment).",
        ),
        _t(
            "vn.mch.pregnancy.registered.v1",
            facility.PregnancyRegistered,
            FACILITY,
            "mother_id",
            "A pregnancy of a registered mother, with its expected delivery date.",
        ),
        _t(
            "vn.mch.antenatal.visit.v1",
            facility.AntenatalVisit,
            FACILITY,
            "pregnancy_id",
            "An antenatal care visit.",
        ),
        _t(
            "vn.mch.birth.v1",
            facility.Birth,
            FACILITY,
            "mother_id",
            "A delivery; each live-born baby becomes a child record.",
        ),
        _t(
            "vn.mch.postnatal.visit.v1",
            facility.PostnatalVisit,
            FACILITY,
            "mother_id",
            "A postnatal check of the mother and/or the baby within 42 days.",
        ),
        _t(
            "vn.mch.child.registered.v1",
            facility.ChildRegistered,
            FACILITY,
            "child_id",
            "A child born elsewhere or enrolled late.",
        ),
        _t(
            "vn.mch.child.visit.v1",
            facility.ChildVisit,
            FACILITY,
            "child_id",
            "A child health check, with measurements when taken.",
        ),
        _t(
            "vn.mch.immunization.v1",
            facility.Immunization,
            FACILITY,
            "person_id",
            "A vaccine dose given to a child or a woman.",
        ),
        _t("vn.mch.death.v1", facility.Death, FACILITY, "person_id", "A death."),
        _t(
            "vn.mch.residence.changed.v1",
            facility.ResidenceChanged,
            FACILITY,
            "person_id",
            "A person moved to another commune from a date on.",
        ),
        _t(
            "vn.mch.record.voided.v1",
            facility.RecordVoided,
            FACILITY,
            "record_id",
            "A record entered in error: it must count nowhere.",
        ),
        _t(
            "vn.mch.records.person.v1",
            records.PersonState,
            topics.RECORDS,
            "person_id",
            "The current state of a mother or child (no names or contact details).",
        ),
        _t(
            "vn.mch.records.pregnancy.v1",
            records.PregnancyState,
            topics.RECORDS,
            "mother_id",
            "The current state of a pregnancy.",
        ),
        _t(
            "vn.mch.records.antenatal-visit.v1",
            records.AntenatalVisitRecorded,
            topics.RECORDS,
            "mother_id",
            "An accepted antenatal visit.",
        ),
        _t(
            "vn.mch.records.birth.v1",
            records.BirthRecorded,
            topics.RECORDS,
            "mother_id",
            "An accepted delivery.",
        ),
        _t(
            "vn.mch.records.postnatal-visit.v1",
            records.PostnatalVisitRecorded,
            topics.RECORDS,
            "mother_id",
            "An accepted postnatal visit.",
        ),
        _t(
            "vn.mch.records.child-visit.v1",
            records.ChildVisitRecorded,
            topics.RECORDS,
            "child_id",
            "An accepted child visit, with the child's sex, birth date and residence.",
        ),
        _t(
            "vn.mch.records.immunization.v1",
            records.ImmunizationRecorded,
            topics.RECORDS,
            "person_id",
            "An accepted vaccine dose.",
        ),
        _t(
            "vn.mch.records.persons-merged.v1",
            records.PersonsMerged,
            topics.RECORDS,
            "surviving_id",
            "Two person records were found to be one person.",
        ),
        _t(
            "vn.mch.records.person-erased.v1",
            records.PersonErased,
            topics.RECORDS,
            "person_id",
            "A person was anonymised on a lawful request; every service drops or anonymises what "
            "it holds about them.",
        ),
        _t(
            "vn.mch.records.orgunit.v1",
            records.OrgUnit,
            topics.RECORDS,
            "code",
            "One version of an org unit (the tree is effective-dated).",
        ),
        _t(
            "vn.mch.growth.assessed.v1",
            growth.GrowthAssessed,
            topics.GROWTH,
            "child_id",
            "A child visit scored against the WHO growth standards.",
        ),
        _t(
            "vn.mch.immunization.status-changed.v1",
            immunization.ImmunizationStatusChanged,
            topics.IMMUNIZATION,
            "person_id",
            "A change in a person's immunization status.",
        ),
    )
}

FACILITY_TYPES = frozenset(n for n, t in EVENT_TYPES.items() if t.topic == FACILITY)


def event_type_for(model: type[BaseModel]) -> EventType:
    for t in EVENT_TYPES.values():
        if t.model is model:
            return t
    raise KeyError(f"{model.__name__} is not a registered event data model")
