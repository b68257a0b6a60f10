"""A strict parser of the Prometheus text exposition format (version 0.0.4), for the tests of
`hone serve`'s GET /metrics. Python 3 standard library only.

Beyond the format's grammar it requires what a well-behaved exporter does: exactly one HELP and
one TYPE per family, both before the family's first sample; the samples of a family together;
no series twice; counters not negative; and for histograms, buckets with a numeric `le` in
increasing order, cumulative counts that never decrease, a +Inf bucket, and _sum and _count
with _count equal to the +Inf bucket. parse() raises FormatError naming the line otherwise."""

import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(ValueError):
    pass


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []  # (sample name, labels dict, value)

    def __repr__(self):
        return "Family(%s, %s, %d samples)" % (self.name, self.type, len(self.samples))


def parse_float(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise FormatError("%s: %r is not a number" % (where, text))
    return float(text)


def unescape_help(text, where):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "\\n":
                raise FormatError("%s: invalid escape in HELP" % where)
            out.append("\\" if text[i + 1] == "\\" else "\n")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text, i, where):
    """Parses `{name="value",...}` starting at text[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(text, i)
        if not m:
            raise FormatError("%s: bad label name at column %d" % (where, i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise FormatError("%s: label name %s is reserved" % (where, name))
        i = m.end()
        if text[i:i + 2] != '="':
            raise FormatError("%s: expected =\" after label %s" % (where, name))
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise FormatError("%s: unterminated label value" % where)
            c = text[i]
            if c == "\\":
                if i + 1 >= len(text) or text[i + 1] not in '\\"n':
                    raise FormatError("%s: invalid escape in label value" % where)
                value.append({"\\": "\\", '"': '"', "n": "\n"}[text[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise FormatError("%s: newline in label value" % where)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise FormatError("%s: label %s given twice" % (where, name))
        labels[name] = "".join(value)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        raise FormatError("%s: expected , or } after label %s" % (where, name))


def family_of(sample_name, families):
    """The family a sample name belongs to (histogram/summary suffixes stripped)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            f = families.get(base)
            if f is not None and f.type in ("histogram", "summary"):
                if suffix == "_bucket" and f.type != "histogram":
                    return None
                return f
    f = families.get(sample_name)
    if f is not None and f.type not in ("histogram", "summary"):
        return f
    return None


def check_histogram(f):
    groups = {}
    for name, labels, value in f.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name == f.name + "_bucket":
            if "le" not in labels:
                raise FormatError("histogram %s: a bucket without le %s" % (f.name, dict(key)))
            le = parse_float(labels["le"], "histogram %s" % f.name)
            if math.isnan(le):
                raise FormatError("histogram %s: le is NaN" % f.name)
            g["buckets"].append((le, value))
        elif "le" in labels:
            raise FormatError("histogram %s: le on %s" % (f.name, name))
        elif name == f.name + "_sum":
            g["sum"] = value
        elif name == f.name + "_count":
            g["count"] = value
    if not groups:
        return
    for key, g in groups.items():
        where = "histogram %s %s" % (f.name, dict(key))
        b = g["buckets"]
        if not b:
            raise FormatError("%s: no buckets" % where)
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le2 > le1:
                raise FormatError("%s: bucket le=%s after le=%s (not increasing)" % (where, le2, le1))
            if c2 < c1:
                raise FormatError("%s: bucket counts are not monotonic (le=%s: %s < %s)" % (where, le2, c2, c1))
        if b[-1][0] != math.inf:
            raise FormatError("%s: missing the +Inf bucket" % where)
        for le, c in b:
            if c < 0 or math.isnan(c) or c != int(c):
                raise FormatError("%s: bucket le=%s has count %s" % (where, le, c))
        if g["count"] is None or g["sum"] is None:
            raise FormatError("%s: missing _sum or _count" % where)
        if g["count"] != b[-1][1]:
            raise FormatError("%s: _count %s != +Inf bucket %s" % (where, g["count"], b[-1][1]))


def parse(text):
    """Parses an exposition; returns {family name: Family}. Raises FormatError."""
    if text and not text.endswith("\n"):
        raise FormatError("the last line does not end with a newline")
    families = {}
    finished = set()  # families whose samples have ended (another family started)
    current = None
    seen_series = set()
    for n, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        where = "line %d" % n
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not NAME_RE.match(name):
                    raise FormatError("%s: bad metric name %r" % (where, name))
                f = families.get(name)
                if f is None:
                    if current is not None:
                        finished.add(current.name)
                    f = families[name] = Family(name)
                    current = f
                elif f is not current or name in finished:
                    raise FormatError("%s: %s %s after other families" % (where, kind, name))
                if f.samples:
                    raise FormatError("%s: %s %s after its samples" % (where, kind, name))
                if kind == "HELP":
                    if f.help is not None:
                        raise FormatError("%s: a second HELP for %s" % (where, name))
                    f.help = unescape_help(parts[3] if len(parts) > 3 else "", where)
                else:
                    if f.type is not None:
                        raise FormatError("%s: a second TYPE for %s" % (where, name))
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError("%s: bad TYPE line %r" % (where, line))
                    f.type = parts[3]
            continue  # other comments are allowed
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if not m:
            raise FormatError("%s: bad sample line %r" % (where, line))
        sname = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise FormatError("%s: expected a space before the value" % where)
        fields = rest.strip(" ").split(" ")
        if len(fields) not in (1, 2) or "" in fields:
            raise FormatError("%s: expected a value and an optional timestamp" % where)
        value = parse_float(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise FormatError("%s: bad timestamp %r" % (where, fields[1]))
        f = family_of(sname, families)
        if f is None or f.type is None:
            raise FormatError("%s: sample %s before its TYPE" % (where, sname))
        if f.help is None:
            raise FormatError("%s: sample %s without a HELP" % (where, sname))
        if f is not current:
            raise FormatError("%s: sample %s apart from the rest of its family" % (where, sname))
        series = (sname, tuple(sorted(labels.items())))
        if series in seen_series:
            raise FormatError("%s: series %s%s given twice" % (where, sname, labels))
        seen_series.add(series)
        if f.type == "counter" and (math.isnan(value) or value < 0):
            raise FormatError("%s: counter %s is %s" % (where, sname, value))
        f.samples.append((sname, labels, value))
    for f in families.values():
        if f.type is None or f.help is None:
            raise FormatError("family %s lacks a %s" % (f.name, "TYPE" if f.type is None else "HELP"))
        if f.type == "histogram":
            check_histogram(f)
    return families


def value(families, sample_name, **labels):
    """The value of the one sample with exactly these labels; None when absent."""
    for f in families.values():
        for name, l, v in f.samples:
            if name == sample_name and l == labels:
                return v
    return None
