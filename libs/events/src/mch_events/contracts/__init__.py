"""Event contracts: the only place a message shape is defined.

Every type name ends in its major version (``.v1``). A change that would break a reader gets a new
type (``.v2``) published beside the old one; the committed JSON Schemas and their compatibility test
(``libs/events/tests/test_schema_compatibility.py``) keep that promise.
"""
