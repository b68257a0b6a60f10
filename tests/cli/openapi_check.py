"""A checker of JSON values against the subset of OpenAPI 3.0 schemas docs/openapi.yaml uses:
type (object, array, string, integer, number, boolean), nullable, enum, required, properties,
additionalProperties (true or false), items, minimum, allOf, $ref (to #/components/...) and
format date-time. Anything else in a schema is an error of the document, so that the checker
never passes a schema it does not understand. Python 3 standard library only."""

import re

KNOWN = {"type", "nullable", "enum", "required", "properties", "additionalProperties", "items", "minimum", "allOf",
         "$ref", "format", "description"}
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


class SchemaError(ValueError):
    """The document uses what this checker does not know."""


def resolve(doc, node):
    """`node` with its $ref (and those it leads to) followed."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SchemaError("only local references are supported: " + ref)
        target = doc
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
        seen += 1
        if seen > 50:
            raise SchemaError("reference loop at " + ref)
    return node


def _type_ok(t, value):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise SchemaError("unknown type " + repr(t))


def errors(doc, schema, value, where="$"):
    """The list of places where `value` does not match `schema` (empty when it does)."""
    schema = resolve(doc, schema)
    unknown = set(schema) - KNOWN
    if unknown:
        raise SchemaError("%s: unsupported keywords %s" % (where, sorted(unknown)))
    out = []
    for part in schema.get("allOf", []):
        out += errors(doc, part, value, where)
    if value is None:
        # allOf parts decide for themselves; a schema with a type needs nullable.
        if "type" in schema and not schema.get("nullable", False):
            out.append("%s: null where %s is expected" % (where, schema["type"]))
        return out
    if "enum" in schema and value not in schema["enum"]:
        out.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    t = schema.get("type")
    if t is not None and not _type_ok(t, value):
        return out + ["%s: %r is not of type %s" % (where, value, t)]
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        out.append("%s: %r is below the minimum %r" % (where, value, schema["minimum"]))
    if schema.get("format") == "date-time" and isinstance(value, str) and not DATE_TIME.match(value):
        out.append("%s: %r is not a date-time" % (where, value))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append("%s: required field %r missing" % (where, name))
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False):
            raise SchemaError(where + ": additionalProperties must be true or false here")
        for name, v in value.items():
            if name in props:
                out += errors(doc, props[name], v, "%s.%s" % (where, name))
            elif extra is False:
                out.append("%s: field %r is not in the schema" % (where, name))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += errors(doc, schema["items"], v, "%s[%d]" % (where, i))
    return out


def check_document(doc):
    """Raises SchemaError for a keyword of any schema in the document this checker does not know."""
    def schema(node, where):
        if "$ref" in node:
            return
        unknown = set(node) - KNOWN
        if unknown:
            raise SchemaError("%s: unsupported keywords %s" % (where, sorted(unknown)))
        for k, v in node.get("properties", {}).items():
            schema(v, where + "." + k)
        if "items" in node:
            schema(node["items"], where + "[]")
        for i, v in enumerate(node.get("allOf", [])):
            schema(v, "%s.allOf[%d]" % (where, i))

    def find(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema":
                    schema(v, where + ".schema")
                else:
                    find(v, "%s.%s" % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                find(v, "%s[%d]" % (where, i))

    for name, s in doc["components"]["schemas"].items():
        schema(s, "components.schemas." + name)
    find(doc["paths"], "paths")
    find(doc["components"], "components")
