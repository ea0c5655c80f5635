"""The contract as documents: a JSON Schema per event type, an AsyncAPI document per service, and
the compatibility rule the committed schemas are held to (``libs/events/contract``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import topics
from .registry import EVENT_TYPES, EventType

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# What each service consumes and produces (the AsyncAPI documents are written from this).
SERVICE_CHANNELS: dict[str, dict[str, list[str]]] = {
    "records": {
        "receive": [topics.FACILITY_EVENTS],
        "send": [topics.RECORDS, topics.DEAD_LETTERS],
    },
    "immunization": {
        "receive": [topics.RECORDS],
        "send": [topics.IMMUNIZATION, topics.DEAD_LETTERS],
    },
    "growth": {"receive": [topics.RECORDS], "send": [topics.GROWTH, topics.DEAD_LETTERS]},
    "reporting": {
        "receive": [topics.RECORDS, topics.GROWTH, topics.IMMUNIZATION],
        "send": [topics.DEAD_LETTERS],
    },
}

_CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 binary mode: attributes as ce_* headers.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    "properties": {
        "ce_specversion": {"const": "1.0"},
        "ce_id": {"type": "string", "description": "unique per event; reused on retries"},
        "ce_source": {"type": "string", "description": "the facility's org-unit code"},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_revision": {"type": "string", "description": "integer ≥ 1; higher amends"},
        "ce_traceparent": {"type": "string"},
        "content-type": {"const": "application/json"},
    },
}


def schema_of(event_type: EventType) -> dict[str, Any]:
    schema = event_type.model.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:mch-platform:event:{event_type.name}",
        "title": event_type.name,
        "description": event_type.description,
        **{k: v for k, v in schema.items() if k != "title"},
        "x-topic": event_type.topic,
        "x-key": event_type.subject_field,
    }


def asyncapi_of(service: str) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for action, names in SERVICE_CHANNELS[service].items():
        for topic in names:
            channel_id = topic.replace(".", "_").replace("-", "_")
            types = [t for t in EVENT_TYPES.values() if t.topic == topic]
            for t in types:
                messages[t.name] = {
                    "name": t.name,
                    "title": t.name,
                    "summary": t.description,
                    "contentType": "application/json",
                    "headers": _CE_HEADERS,
                    "payload": {"$ref": f"../jsonschema/{t.name}.json"},
                }
            channels[channel_id] = {
                "address": topic,
                "messages": {
                    t.name.replace(".", "_"): {"$ref": f"#/components/messages/{t.name}"}
                    for t in types
                },
            }
            if topic == topics.DEAD_LETTERS:
                channels[channel_id]["description"] = (
                    "Unprocessable records, unchanged, with mch-dlq-reason and mch-dlq-problems "
                    "headers."
                )
            operations[f"{action}_{channel_id}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"mch-platform {service}",
            "version": "1.0.0",
            "description": f"Kafka topics the {service} service consumes and produces.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


CONTRACT_DIR = Path(__file__).resolve().parents[2] / "contract"
"""Where the committed documents live in a source checkout."""


def export(out: Path = CONTRACT_DIR) -> list[Path]:
    written = []
    (out / "jsonschema").mkdir(parents=True, exist_ok=True)
    (out / "asyncapi").mkdir(parents=True, exist_ok=True)
    for event_type in EVENT_TYPES.values():
        path = out / "jsonschema" / f"{event_type.name}.json"
        path.write_text(json.dumps(schema_of(event_type), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    for service in SERVICE_CHANNELS:
        path = out / "asyncapi" / f"{service}.json"
        path.write_text(json.dumps(asyncapi_of(service), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


# -- compatibility ---------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        schema = root["$defs"][ref.removeprefix("#/$defs/")]
    return schema


def _variants(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return [_resolve(s, root) for s in schema["anyOf"]]
    return [schema]


def _kinds(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    kinds = set()
    for v in _variants(schema, root):
        if "type" in v:
            kinds.add(v["type"] if isinstance(v["type"], str) else json.dumps(v["type"]))
        elif "const" in v or "enum" in v:
            kinds.add("enum")
    return kinds


def _enum(schema: dict[str, Any], root: dict[str, Any]) -> set[str] | None:
    values: set[str] = set()
    for v in _variants(schema, root):
        if "enum" in v:
            values.update(map(str, v["enum"]))
        elif "const" in v:
            values.add(str(v["const"]))
        else:
            return None
    return values


def incompatibilities(
    old: dict[str, Any], new: dict[str, Any], path: str = "", roots: tuple[Any, Any] | None = None
) -> list[str]:
    """Why readers or writers of ``old`` would break on ``new`` (empty: compatible).

    Allowed: new optional fields, new enum values, looser limits. Refused: a removed or renamed
    field, a field that became required, a changed type, a removed enum value."""
    old_root, new_root = roots or (old, new)
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}{name}: removed or renamed")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{path}{name}: became required")
    for name, old_prop in old_props.items():
        if name not in new_props:
            continue
        new_prop = new_props[name]
        where = f"{path}{name}"
        old_kinds, new_kinds = _kinds(old_prop, old_root), _kinds(new_prop, new_root)
        if not old_kinds <= new_kinds:
            problems.append(f"{where}: type {sorted(old_kinds)} became {sorted(new_kinds)}")
        old_enum, new_enum = _enum(old_prop, old_root), _enum(new_prop, new_root)
        if old_enum is not None and new_enum is not None and not old_enum <= new_enum:
            problems.append(f"{where}: values removed: {sorted(old_enum - new_enum)}")
        for o in _variants(old_prop, old_root):
            for n in _variants(new_prop, new_root):
                if o.get("type") == n.get("type") == "object":
                    problems += incompatibilities(o, n, f"{where}.", (old_root, new_root))
                if o.get("type") == n.get("type") == "array" and "items" in o and "items" in n:
                    problems += incompatibilities(
                        o["items"], n["items"], f"{where}[].", (old_root, new_root)
                    )
    return problems
