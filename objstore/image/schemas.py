"""The JSON schemas of API v2 (``GET /v2/schemas/...``).

``glanceclient`` fetches the image schema before its first command and
builds from it the options of ``image-create`` and ``image-update``
(every property that is not ``readOnly``, typed, with ``enum`` as
choices) and its client-side checks (warlock validates each image it
is shown against it). So the schema must describe exactly what
``properties.api_view`` produces: nullable fields typed
``["null", ...]``, custom properties as ``additionalProperties``
strings, and the non-base properties it suggests marked
``is_base: false``.
"""
from __future__ import annotations

import copy
from typing import Any, Final

from objstore.image.properties import (
    CONTAINER_FORMATS, DISK_FORMATS, MAX_INT, MAX_NAME, STATUSES, VISIBILITIES,
)

UUID_PATTERN: Final = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                       "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")
MEMBER_STATUSES: Final = ("pending", "accepted", "rejected")


def _nullable(kind: str, description: str, **more: Any) -> dict[str, Any]:
    return {"type": ["null", kind], "description": description, **more}


def _read_only(kind: str | list[str], description: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "readOnly": True, "description": description, **more}


def _image_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "pattern": UUID_PATTERN,
               "description": "An identifier for the image (a UUID; made up when absent)"},
        "name": _nullable("string", "Descriptive name for the image", maxLength=MAX_NAME),
        "status": _read_only("string", "Status of the image", enum=list(STATUSES)),
        "visibility": {"type": "string", "enum": list(VISIBILITIES),
                       "description": "Scope of image accessibility"},
        "protected": {"type": "boolean",
                      "description": "If true, the image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, the image is left out of default listings."},
        "checksum": _read_only(["null", "string"], "MD5 of the image data", maxLength=32),
        "os_hash_algo": _read_only(["null", "string"], "Algorithm of os_hash_value",
                                   maxLength=64),
        "os_hash_value": _read_only(["null", "string"], "Secure hash of the image data",
                                    maxLength=128),
        "owner": _nullable("string", "Owner of the image (an account)", maxLength=MAX_NAME),
        "size": _read_only(["null", "integer"], "Size of the image data in bytes"),
        "virtual_size": _read_only(["null", "integer"], "Virtual size of the disk in bytes"),
        "container_format": _nullable("string", "Format of the container",
                                      enum=[None, *CONTAINER_FORMATS]),
        "disk_format": _nullable("string", "Format of the disk",
                                 enum=[None, *DISK_FORMATS]),
        "created_at": _read_only("string", "Date and time of image registration"),
        "updated_at": _read_only("string", "Date and time of the last image change"),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": MAX_NAME}},
        "direct_url": _read_only("string", "URL to access the image file (not exposed)"),
        "min_ram": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                    "description": "Amount of RAM in MB required to boot the image"},
        "min_disk": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                     "description": "Amount of disk space in GB required to boot the image"},
        "self": _read_only("string", "An image self url"),
        "file": _read_only("string", "An image file url"),
        "stores": _read_only("string", "Store in which the image data lives"),
        "schema": _read_only("string", "An image schema url"),
        "locations": {"type": "array", "description": "Image locations (not exposed)",
                      "items": {"type": "object"}},
        # suggested custom properties: strings, offered as options by the CLI
        "architecture": {"type": "string", "is_base": False,
                         "description": "CPU architecture the image needs (e.g. x86_64)"},
        "os_distro": {"type": "string", "is_base": False,
                      "description": "Common name of the operating system (e.g. ubuntu)"},
        "os_version": {"type": "string", "is_base": False,
                       "description": "Version of the operating system (e.g. 24.04)"},
    }


_IMAGE_LINKS: Final = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]


def image_schema() -> dict[str, Any]:
    return {"name": "image", "properties": _image_properties(),
            "additionalProperties": {"type": "string"}, "links": copy.deepcopy(_IMAGE_LINKS)}


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "Date and time of membership"},
            "updated_at": {"type": "string", "description": "Date and time of the last change"},
            "image_id": {"type": "string", "pattern": UUID_PATTERN,
                         "description": "An identifier for the image"},
            "member_id": {"type": "string", "description": "The account shared with"},
            "schema": {"type": "string", "readOnly": True},
            "status": {"type": "string", "enum": list(MEMBER_STATUSES),
                       "description": "The status of this image member"},
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()},
                       "schema": {"type": "string"}},
        "links": [{"rel": "self", "href": "{self}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


SCHEMAS: Final = {"image": image_schema, "images": images_schema, "member": member_schema,
                  "members": members_schema}

__all__ = ["MEMBER_STATUSES", "SCHEMAS", "image_schema", "images_schema", "member_schema",
           "members_schema"]
