"""OpenAPI 3.1 description of the KPI API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What was wrong, for a human."},
        "field": {
            "type": "string",
            "description": "The offending field, e.g. `measurements[3].value`.",
        },
    },
}
_MEASUREMENT = {
    "type": "object",
    "required": ["value"],
    "additionalProperties": False,
    "properties": {
        "value": {"type": "number", "description": "A finite number."},
        "at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": (
                "ISO 8601; naive times are UTC; absent or null means now. At most 5 "
                "minutes in the future and not before 1970."
            ),
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    described = {
        401: "Missing, invalid or revoked token (checked before anything else).",
        404: "No KPI with this key in the token's workspace.",
        422: "The body is invalid; `field` names the offending field.",
    }
    return {
        str(code): {
            "description": described[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "okrbot KPI API",
        "version": "1.0.0",
        "description": (
            "Send KPI measurements to okrbot and read a KPI's state. Tokens come from "
            "`okrbot token create NAME --team T…` and act in one workspace."
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/kpis/{key}/measurements": {
            "post": {
                "summary": "Store one measurement or a batch (all or nothing)",
                "description": (
                    "Up to 10,000 measurements per request. Re-sending the same (key, at) "
                    "replaces the value. New values are evaluated at once and may open or "
                    "resolve an alert."
                ),
                "parameters": [{"$ref": "#/components/parameters/key"}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Measurement"},
                                    {
                                        "type": "object",
                                        "required": ["measurements"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "measurements": {
                                                "type": "array",
                                                "minItems": 1,
                                                "maxItems": 10000,
                                                "items": {
                                                    "$ref": "#/components/schemas/Measurement"
                                                },
                                            }
                                        },
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Stored.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["stored"],
                                    "properties": {"stored": {"type": "integer", "minimum": 1}},
                                }
                            }
                        },
                    },
                    **_errors(401, 404, 422),
                },
            }
        },
        "/kpis/{key}": {
            "get": {
                "summary": "A KPI with its latest value, normal range and alert state",
                "parameters": [{"$ref": "#/components/parameters/key"}],
                "responses": {
                    "200": {
                        "description": "The KPI.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Kpi"}}
                        },
                    },
                    **_errors(401, 404),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "parameters": {
            "key": {
                "name": "key",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_.\\-]{0,99}$"},
                "example": "signup_rate",
            }
        },
        "schemas": {
            "Error": _ERROR,
            "Measurement": _MEASUREMENT,
            "Kpi": {
                "type": "object",
                "required": ["key", "name", "latest", "normal_range", "alert"],
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "unit": {"type": ["string", "null"]},
                    "channel": {"type": ["string", "null"]},
                    "owner": {"type": ["string", "null"]},
                    "latest": {
                        "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Measurement"}]
                    },
                    "normal_range": {
                        "type": "object",
                        "properties": {
                            "source": {"enum": ["static", "learned"]},
                            "min": {"type": ["number", "null"]},
                            "max": {"type": ["number", "null"]},
                            "learning": {"type": "boolean"},
                            "min_history": {"type": "integer"},
                        },
                    },
                    "alert": {
                        "type": "object",
                        "properties": {
                            "state": {"enum": ["ok", "open", "acknowledged", "snoozed", "no_data"]},
                            "open": {"type": "object"},
                        },
                    },
                    "measurements": {"type": "integer"},
                    "recent": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Measurement"},
                    },
                    "expected_interval_seconds": {"type": ["integer", "null"]},
                    "consecutive": {"type": "integer"},
                },
            },
        },
    },
}
