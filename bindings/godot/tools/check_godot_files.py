#!/usr/bin/env python3
"""Checks that the Godot 4 files of bindings/godot parse as Godot 4 would read them.

No Godot 4 binary can be installed on the build machine (Debian ships only Godot 3), so this
stands in for `godot --headless --check-only`. It reads:

* ConfigFile files (`*.gdextension`, `project.godot`): sections, `key=value` lines whose values
  are Godot Variant literals (strings, numbers, `PackedStringArray(...)`, dictionaries...),
  plus what each file must hold (entry_symbol and a library per platform; config_version=5 and
  an existing main scene).
* Text scenes (`*.tscn`): the `[gd_scene ... format=3]` header, `[ext_resource]`,
  `[sub_resource]`, `[node]` and `[connection]` sections, `key = value` properties, resource
  ids, parent paths, load_steps.
* GDScript (`*.gd`, and the ```gdscript blocks of the README files): consistent indentation,
  blocks opened by `:` lines, balanced brackets and closed strings, `extends` as the first
  statement, well-formed `func`/`var`/`const`/`signal` declarations, and, against Godot 4.2's
  `extension_api.json` plus the VoipChat class read from `src/node.rs`: known class names,
  members of typed variables (so `voip.join_completed` must be a signal VoipChat declares),
  known global functions, and `$Node/Paths` that exist in the scene the script is attached to.

`--self-test` proves the checks bite: it breaks copies of the files in many ways and fails
unless every broken copy is rejected (and the untouched copy accepted).

Usage: check_godot_files.py [--api extension_api.json] [--self-test] BINDINGS_GODOT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Errors


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: Path | str, line: int, message: str) -> None:
        self.items.append(f"{path}:{line}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)


class ParseError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ---------------------------------------------------------------------------------------------
# Variant literals, as Godot's VariantParser reads them in .tscn, .tres, project.godot and
# .gdextension files.


@dataclass
class Call:
    """`Name(args)`: a constructor (Vector2, PackedStringArray, ...) or a reference
    (ExtResource, SubResource)."""

    name: str
    args: list
    pos: int


@dataclass
class Special:
    kind: str  # "StringName" or "NodePath"
    value: str


NUMBER_RE = re.compile(r"-?(?:0x[0-9a-fA-F]+|0b[01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = {"true": True, "false": False, "null": None, "nil": None, "inf": float("inf"),
            "inf_neg": float("-inf"), "nan": float("nan")}


class VariantParser:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def skip_space(self, newlines: bool = True) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t\r" or (newlines and c == "\n"):
                self.pos += 1
            elif newlines and c == ";":
                # A comment inside a multi-line value.
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            else:
                break

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "end of file"
            raise ParseError(self.pos, f"expected {char!r}, found {found}")
        self.pos += 1

    def string(self) -> str:
        start = self.pos
        assert self.text[self.pos] == '"'
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(self.text):
                raise ParseError(start, "unterminated string")
            c = self.text[self.pos]
            if c == "\\":
                if self.pos + 1 >= len(self.text):
                    raise ParseError(start, "unterminated string")
                escape = self.text[self.pos + 1]
                if escape not in 'btnfr"\\\'u\nU':
                    raise ParseError(self.pos, f"invalid escape \\{escape} in a string")
                out.append({"n": "\n", "t": "\t"}.get(escape, escape))
                self.pos += 2
            elif c == '"':
                self.pos += 1
                return "".join(out)
            else:
                out.append(c)
                self.pos += 1

    def value(self):
        self.skip_space()
        c = self.peek()
        start = self.pos
        if not c:
            raise ParseError(self.pos, "expected a value, found end of file")
        if c == '"':
            return self.string()
        if c in "&^" and self.text[self.pos + 1: self.pos + 2] == '"':
            self.pos += 1
            return Special("StringName" if c == "&" else "NodePath", self.string())
        if c == "[":
            self.pos += 1
            items = []
            self.skip_space()
            if self.peek() == "]":
                self.pos += 1
                return items
            while True:
                items.append(self.value())
                self.skip_space()
                if self.peek() == ",":
                    self.pos += 1
                    self.skip_space()
                    if self.peek() == "]":  # trailing comma
                        self.pos += 1
                        return items
                    continue
                self.expect("]")
                return items
        if c == "{":
            self.pos += 1
            entries = {}
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                return entries
            while True:
                key = self.value()
                self.expect(":")
                entries[repr(key)] = self.value()
                self.skip_space()
                if self.peek() == ",":
                    self.pos += 1
                    self.skip_space()
                    if self.peek() == "}":
                        self.pos += 1
                        return entries
                    continue
                self.expect("}")
                return entries
        m = NUMBER_RE.match(self.text, self.pos)
        if m and (c.isdigit() or c in "-."):
            self.pos = m.end()
            token = m.group(0)
            return float(token) if any(ch in token for ch in ".eE") and "x" not in token else int(token, 0)
        m = IDENT_RE.match(self.text, self.pos)
        if m:
            name = m.group(0)
            self.pos = m.end()
            if name in KEYWORDS:
                return KEYWORDS[name]
            # Typed arrays: Array[Type]([...])
            if self.peek() == "[":
                self.pos += 1
                self.skip_space()
                m2 = IDENT_RE.match(self.text, self.pos)
                if not m2:
                    raise ParseError(self.pos, "expected a type name in Array[...]")
                self.pos = m2.end()
                self.expect("]")
            self.skip_space(newlines=False)
            if self.peek() != "(":
                raise ParseError(start, f"unexpected word {name!r} (a value is a string, number, "
                                        "true/false/null, [array], {dictionary} or Type(...))")
            self.pos += 1
            args = []
            self.skip_space()
            if self.peek() == ")":
                self.pos += 1
                return Call(name, args, start)
            while True:
                arg = self.value()
                self.skip_space()
                if self.peek() == ":":  # Object(Class, "property": value, ...)
                    self.pos += 1
                    arg = (arg, self.value())
                    self.skip_space()
                args.append(arg)
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect(")")
                return Call(name, args, start)
        raise ParseError(self.pos, f"unexpected character {c!r} where a value should be")


def rest_of_line_is_empty(text: str, pos: int) -> int:
    """Returns the position after the line's end; raises if anything but a comment follows."""
    p = VariantParser(text, pos)
    p.skip_space(newlines=False)
    if p.peek() in ("", "\n"):
        return p.pos + 1
    if p.peek() == ";":
        end = text.find("\n", p.pos)
        return len(text) if end < 0 else end + 1
    raise ParseError(p.pos, f"unexpected text after the value: {text[p.pos:text.find(chr(10), p.pos)]!r}")


VALID_CONSTRUCTORS = {
    "Vector2", "Vector2i", "Rect2", "Rect2i", "Vector3", "Vector3i", "Transform2D", "Vector4",
    "Vector4i", "Plane", "Quaternion", "AABB", "Basis", "Transform3D", "Projection", "Color",
    "StringName", "NodePath", "RID", "Callable", "Signal", "Dictionary", "Array",
    "PackedByteArray", "PackedInt32Array", "PackedInt64Array", "PackedFloat32Array",
    "PackedFloat64Array", "PackedStringArray", "PackedVector2Array", "PackedVector3Array",
    "PackedColorArray", "Object", "ExtResource", "SubResource", "Resource",
}


def walk_calls(value):
    if isinstance(value, Call):
        yield value
        for a in value.args:
            yield from walk_calls(a)
    elif isinstance(value, tuple):
        for a in value:
            yield from walk_calls(a)
    elif isinstance(value, list):
        for a in value:
            yield from walk_calls(a)
    elif isinstance(value, dict):
        for a in value.values():
            yield from walk_calls(a)


# ---------------------------------------------------------------------------------------------
# ConfigFile: project.godot and .gdextension


@dataclass
class ConfigFile:
    sections: dict = field(default_factory=dict)  # name -> {key: (value, line)}
    top: dict = field(default_factory=dict)  # keys before any section


def parse_config(path: Path, text: str, problems: Problems) -> ConfigFile | None:
    config = ConfigFile()
    current = config.top
    pos = 0
    key_re = re.compile(r'[ \t]*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_./\-:]+)[ \t]*=')
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        stripped = line.strip()
        if not stripped or stripped.startswith(";") or stripped.startswith("#"):
            pos = end + 1
            continue
        if stripped.startswith("["):
            m = re.fullmatch(r"\[([^\[\]]+)\]\s*(;.*)?", stripped)
            if not m:
                problems.add(path, line_of(text, pos), f"malformed section header {stripped!r}")
                return None
            name = m.group(1).strip()
            if name in config.sections:
                problems.add(path, line_of(text, pos), f"section [{name}] appears twice")
            current = config.sections.setdefault(name, {})
            pos = end + 1
            continue
        m = key_re.match(text, pos)
        if not m or m.start(1) > end:
            problems.add(path, line_of(text, pos), f"expected key=value, found {stripped!r}")
            return None
        key = m.group(1).strip('"')
        parser = VariantParser(text, m.end())
        try:
            value = parser.value()
            next_pos = rest_of_line_is_empty(text, parser.pos)
        except ParseError as e:
            problems.add(path, line_of(text, e.pos), f"{key}: {e}")
            return None
        for call in walk_calls(value):
            if call.name not in VALID_CONSTRUCTORS:
                problems.add(path, line_of(text, call.pos), f"{key}: unknown type {call.name}(...)")
        if key in current:
            problems.add(path, line_of(text, pos), f"key {key} appears twice in its section")
        current[key] = (value, line_of(text, pos))
        pos = next_pos
    return config


GDEXT_TAGS = {
    "linux", "windows", "macos", "android", "ios", "web", "linuxbsd", "bsd", "x11",
    "debug", "release", "editor", "template", "template_debug", "template_release",
    "x86_64", "x86_32", "arm64", "arm32", "rv64", "wasm32", "universal", "double", "single",
}
# What this binding promises to ship: one library per platform (and build kind).
GDEXT_REQUIRED = [
    ("linux", "debug", "x86_64"), ("linux", "release", "x86_64"),
    ("windows", "debug", "x86_64"), ("windows", "release", "x86_64"),
    ("macos", "debug"), ("macos", "release"),
    ("android", "debug", "arm64"), ("android", "release", "arm64"),
    ("ios", "debug", "arm64"), ("ios", "release", "arm64"),
]
LIB_SUFFIX = {"linux": ".so", "android": ".so", "windows": ".dll", "macos": (".dylib", ".framework"),
              "ios": (".dylib", ".framework", ".xcframework")}


def check_gdextension(path: Path, text: str, problems: Problems, entry_symbol: str) -> None:
    config = parse_config(path, text, problems)
    if config is None:
        return
    if config.top:
        problems.add(path, 1, "keys outside any section")
    conf = config.sections.get("configuration")
    if conf is None:
        problems.add(path, 1, "missing [configuration]")
        return
    symbol = conf.get("entry_symbol", (None, 1))[0]
    if symbol != entry_symbol:
        problems.add(path, 1, f"[configuration] entry_symbol must be {entry_symbol!r}, got {symbol!r}")
    minimum, line = conf.get("compatibility_minimum", (None, 1))
    if minimum is None:
        problems.add(path, 1, "[configuration] needs compatibility_minimum")
    else:
        try:
            parts = [int(p) for p in str(minimum).split(".")]
            if parts[0] != 4 or (len(parts) > 1 and parts[1] < 1):
                raise ValueError
        except ValueError:
            problems.add(path, line, f"compatibility_minimum must be a Godot 4 version like 4.2, got {minimum!r}")
    for key in conf:
        if key not in {"entry_symbol", "compatibility_minimum", "compatibility_maximum", "reloadable", "android_aar_plugin"}:
            problems.add(path, conf[key][1], f"unknown [configuration] key {key}")
    libraries = config.sections.get("libraries")
    if libraries is None:
        problems.add(path, 1, "missing [libraries]")
        return
    for key, (value, line) in libraries.items():
        tags = key.split(".")
        unknown = [t for t in tags if t not in GDEXT_TAGS]
        if unknown:
            problems.add(path, line, f"unknown feature tag(s) {unknown} in {key}")
        if not isinstance(value, str) or not value.startswith("res://"):
            problems.add(path, line, f"{key} must be a res:// path string")
            continue
        suffix = LIB_SUFFIX.get(tags[0])
        if suffix and not value.endswith(suffix):
            problems.add(path, line, f"{key}: a {tags[0]} library ends with {suffix}, got {value}")
    for required in GDEXT_REQUIRED:
        if not any(set(required) <= set(k.split(".")) for k in libraries):
            problems.add(path, 1, f"[libraries] has no entry for {'.'.join(required)}")
    for section in config.sections:
        if section not in {"configuration", "libraries", "dependencies", "icons"}:
            problems.add(path, 1, f"unknown section [{section}]")


def check_project(path: Path, text: str, problems: Problems) -> None:
    config = parse_config(path, text, problems)
    if config is None:
        return
    version = config.top.get("config_version", (None, 1))[0]
    if version != 5:
        problems.add(path, 1, f"config_version must be 5 (Godot 4), got {version!r}")
    app = config.sections.get("application", {})
    main_scene, line = app.get("run/main_scene", (None, 1))
    if not isinstance(main_scene, str) or not main_scene.startswith("res://"):
        problems.add(path, line, "application run/main_scene must be a res:// path")
    elif not (path.parent / main_scene[len("res://"):]).is_file():
        problems.add(path, line, f"run/main_scene {main_scene} does not exist")
    features, line = app.get("config/features", (None, 1))
    if not (isinstance(features, Call) and features.name == "PackedStringArray"
            and any(isinstance(f, str) and f.startswith("4.") for f in features.args)):
        problems.add(path, line, 'config/features must be PackedStringArray("4.x", ...)')


# ---------------------------------------------------------------------------------------------
# The Godot API: engine classes from extension_api.json, and VoipChat from the Rust source.


@dataclass
class ClassInfo:
    name: str
    inherits: str | None
    methods: set = field(default_factory=set)
    properties: dict = field(default_factory=dict)  # name -> type
    signals: set = field(default_factory=set)
    constants: set = field(default_factory=set)
    enums: set = field(default_factory=set)


class Api:
    def __init__(self) -> None:
        self.classes: dict[str, ClassInfo] = {}
        self.builtins: dict[str, ClassInfo] = {}
        self.singletons: set[str] = set()
        self.global_enums: set[str] = set()
        self.global_constants: set[str] = set()
        self.utility_functions: set[str] = set()
        self.loaded = False

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        for c in data["classes"]:
            info = ClassInfo(c["name"], c.get("inherits"))
            info.methods = {m["name"] for m in c.get("methods", [])}
            info.properties = {p["name"]: p["type"] for p in c.get("properties", [])}
            info.signals = {s["name"] for s in c.get("signals", [])}
            info.constants = {k["name"] for k in c.get("constants", [])}
            for e in c.get("enums", []):
                info.enums.add(e["name"])
                info.constants |= {v["name"] for v in e["values"]}
            self.classes[c["name"]] = info
        for b in data["builtin_classes"]:
            info = ClassInfo(b["name"], None)
            info.methods = {m["name"] for m in b.get("methods", [])}
            info.properties = {m["name"]: m["type"] for m in b.get("members", [])}
            info.constants = {k["name"] for k in b.get("constants", [])}
            for e in b.get("enums", []):
                info.enums.add(e["name"])
                info.constants |= {v["name"] for v in e["values"]}
            self.builtins[b["name"]] = info
        self.singletons = {s["name"] for s in data["singletons"]}
        for e in data["global_enums"]:
            self.global_enums.add(e["name"].split(".")[0])
            self.global_constants |= {v["name"] for v in e["values"]}
        self.global_constants |= {k["name"] for k in data.get("global_constants", [])}
        self.utility_functions = {u["name"] for u in data["utility_functions"]}
        self.loaded = True

    def chain(self, name: str):
        seen = set()
        while name and name not in seen:
            seen.add(name)
            info = self.classes.get(name) or self.builtins.get(name)
            if info is None:
                return
            yield info
            name = info.inherits

    def is_class(self, name: str) -> bool:
        return name in self.classes or name in self.builtins

    def has_member(self, cls: str, member: str) -> bool:
        for info in self.chain(cls):
            if (member in info.methods or member in info.properties or member in info.signals
                    or member in info.constants or member in info.enums):
                return True
        # Every Object (and every builtin) answers these.
        return member in {"new", "free", "duplicate", "get", "set", "call", "connect", "emit",
                          "is_connected", "disconnect", "get_class", "is_class"}

    def property_type(self, cls: str, prop: str) -> str | None:
        for info in self.chain(cls):
            if prop in info.properties:
                return info.properties[prop]
        return None

    def signal_exists(self, cls: str, name: str) -> bool:
        return any(name in info.signals for info in self.chain(cls))


RUST_TYPE_TO_GODOT = {"GString": "String", "StringName": "StringName", "bool": "bool", "i64": "int",
                      "i32": "int", "f64": "float", "f32": "float"}


def load_rust_class(api: Api, node_rs: Path) -> ClassInfo:
    """Reads the `#[derive(GodotClass)]` struct and its `#[godot_api]` impl from node.rs."""
    text = node_rs.read_text()
    m = re.search(r"#\[class\(base\s*=\s*(\w+)\)\]\s*pub struct (\w+)", text)
    if not m:
        raise SystemExit(f"{node_rs}: no #[class(base = ...)] struct found")
    info = ClassInfo(m.group(2), m.group(1))
    for exp in re.finditer(r"#\[export[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*(\w+):\s*(\w+)", text):
        info.properties[exp.group(1)] = RUST_TYPE_TO_GODOT.get(exp.group(2), exp.group(2))
    info.signals = set(re.findall(r"#\[signal\]\s*fn (\w+)", text))
    info.methods = set(re.findall(r"#\[func\]\s*(?:pub\s+)?fn (\w+)", text))
    info.constants = set(re.findall(r"#\[constant\]\s*const (\w+)", text))
    if not info.signals or not info.methods:
        raise SystemExit(f"{node_rs}: found no #[signal] or #[func]; has the class moved?")
    api.classes[info.name] = info
    return info


# ---------------------------------------------------------------------------------------------
# Scenes (.tscn)

SCENE_TAGS = {
    "ext_resource": {"required": {"type", "path", "id"}, "allowed": {"uid"}},
    "sub_resource": {"required": {"type", "id"}, "allowed": set()},
    "node": {"required": {"name"}, "allowed": {"type", "parent", "instance", "instance_placeholder",
                                               "owner", "index", "groups", "unique_id"}},
    "connection": {"required": {"signal", "from", "to", "method"}, "allowed": {"flags", "binds", "unbinds"}},
    "editable": {"required": {"path"}, "allowed": set()},
}
# Properties every node accepts though the class lists none of them.
NODE_PSEUDO_PROPERTIES = {"script"}


@dataclass
class SceneNode:
    path: str  # "." for the root, else "A/B"
    type: str | None
    script: str | None
    line: int


def parse_tag(text: str, pos: int) -> tuple[str, dict, int]:
    """Parses `[name key=value ...]` at pos; returns (name, attributes, position after)."""
    p = VariantParser(text, pos + 1)
    m = IDENT_RE.match(text, p.pos)
    if not m:
        raise ParseError(pos, "expected a tag name after '['")
    name = m.group(0)
    p.pos = m.end()
    attrs = {}
    while True:
        p.skip_space(newlines=False)
        if p.peek() == "]":
            p.pos += 1
            break
        m = IDENT_RE.match(text, p.pos)
        if not m:
            raise ParseError(p.pos, f"malformed [{name}] tag: expected key=value or ']'")
        key = m.group(0)
        p.pos = m.end()
        if p.peek() != "=":
            raise ParseError(p.pos, f"[{name}] attribute {key} has no '='")
        p.pos += 1
        attrs[key] = p.value()
    return name, attrs, rest_of_line_is_empty(text, p.pos)


def check_scene(path: Path, text: str, problems: Problems, api: Api, project_root: Path) -> list[SceneNode]:
    nodes: list[SceneNode] = []
    ext_ids: dict[str, str] = {}
    sub_ids: set[str] = set()
    pos = 0
    header = None
    section = None  # (tag, attrs, node or None)
    counts = {"ext_resource": 0, "sub_resource": 0}
    prop_re = re.compile(r'[ \t]*([A-Za-z0-9_/:\-\.]+|"[^"]*")[ \t]*=[ \t]*')
    try:
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            stripped = text[pos:end].strip()
            if not stripped or stripped.startswith(";"):
                pos = end + 1
                continue
            if stripped.startswith("["):
                tag, attrs, pos_after = parse_tag(text, pos + text[pos:end].index("["))
                line = line_of(text, pos)
                if header is None:
                    if tag != "gd_scene":
                        problems.add(path, line, f"a scene starts with [gd_scene ...], not [{tag}]")
                        return nodes
                    header = attrs
                    if attrs.get("format") != 3:
                        problems.add(path, line, f"[gd_scene] format must be 3 (Godot 4), got {attrs.get('format')!r}")
                    pos = pos_after
                    continue
                if tag == "gd_scene":
                    problems.add(path, line, "a second [gd_scene] header")
                if tag not in SCENE_TAGS:
                    problems.add(path, line, f"unknown section [{tag}]")
                    pos = pos_after
                    continue
                spec = SCENE_TAGS[tag]
                missing = spec["required"] - attrs.keys()
                if missing:
                    problems.add(path, line, f"[{tag}] lacks {sorted(missing)}")
                extra = attrs.keys() - spec["required"] - spec["allowed"]
                if extra:
                    problems.add(path, line, f"[{tag}] has unknown attributes {sorted(extra)}")
                node = None
                if tag in counts:
                    counts[tag] += 1
                    if nodes:
                        problems.add(path, line, f"[{tag}] after the first [node]: resources come first")
                if tag == "ext_resource":
                    rid = str(attrs.get("id"))
                    if rid in ext_ids:
                        problems.add(path, line, f"ext_resource id {rid} declared twice")
                    res_path = attrs.get("path")
                    ext_ids[rid] = res_path if isinstance(res_path, str) else ""
                    if isinstance(res_path, str) and res_path.startswith("res://"):
                        if not (project_root / res_path[len("res://"):]).exists():
                            problems.add(path, line, f"ext_resource {res_path} does not exist")
                    elif res_path is not None:
                        problems.add(path, line, f"ext_resource path must be res://..., got {res_path!r}")
                elif tag == "sub_resource":
                    rid = str(attrs.get("id"))
                    if rid in sub_ids:
                        problems.add(path, line, f"sub_resource id {rid} declared twice")
                    sub_ids.add(rid)
                    if api.loaded and not api.is_class(str(attrs.get("type"))):
                        problems.add(path, line, f"unknown resource type {attrs.get('type')!r}")
                elif tag == "node":
                    node = add_node(path, line, attrs, nodes, problems, api)
                elif tag == "connection":
                    check_connection(path, line, attrs, nodes, problems, api)
                section = (tag, attrs, node)
                pos = pos_after
                continue
            if header is None:
                problems.add(path, line_of(text, pos), "a scene starts with [gd_scene ...]")
                return nodes
            m = prop_re.match(text, pos)
            if not m or m.end() > end + 1:
                problems.add(path, line_of(text, pos), f"expected 'key = value', found {stripped!r}")
                pos = end + 1
                continue
            key = m.group(1).strip('"')
            parser = VariantParser(text, m.end())
            value = parser.value()
            line = line_of(text, pos)
            pos = rest_of_line_is_empty(text, parser.pos)
            for call in walk_calls(value):
                if call.name not in VALID_CONSTRUCTORS:
                    problems.add(path, line_of(text, call.pos), f"{key}: unknown type {call.name}(...)")
                elif call.name == "ExtResource":
                    if not call.args or str(call.args[0]) not in ext_ids:
                        problems.add(path, line, f"{key}: ExtResource({call.args[0] if call.args else ''!r}) is not declared above")
                elif call.name == "SubResource":
                    if not call.args or str(call.args[0]) not in sub_ids:
                        problems.add(path, line, f"{key}: SubResource({call.args[0] if call.args else ''!r}) is not declared above")
            if section and section[0] == "node" and section[2] is not None:
                node = section[2]
                if key == "script" and isinstance(value, Call) and value.name == "ExtResource" and value.args:
                    node.script = ext_ids.get(str(value.args[0]))
                check_node_property(path, line, node, key, value, problems, api)
    except ParseError as e:
        problems.add(path, line_of(text, e.pos), str(e))
        return nodes
    if header is None:
        problems.add(path, 1, "empty scene: no [gd_scene] header")
    elif "load_steps" in header and header["load_steps"] != counts["ext_resource"] + counts["sub_resource"] + 1:
        problems.add(path, 1, f"load_steps={header['load_steps']} but the scene has "
                              f"{counts['ext_resource']} ext_resource and {counts['sub_resource']} sub_resource "
                              f"(load_steps is their sum plus one)")
    if header is not None and not nodes:
        problems.add(path, 1, "the scene has no [node]")
    return nodes


def add_node(path, line, attrs, nodes, problems, api) -> SceneNode | None:
    name = attrs.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in './:@%"'):
        problems.add(path, line, f"invalid node name {name!r}")
        return None
    parent = attrs.get("parent")
    node_type = attrs.get("type")
    if node_type is None and "instance" not in attrs:
        problems.add(path, line, f"node {name} has neither type nor instance")
    if node_type is not None and api.loaded and not api.is_class(str(node_type)):
        problems.add(path, line, f"node {name}: unknown type {node_type!r}")
    if not nodes:
        if parent is not None:
            problems.add(path, line, f"the first node ({name}) is the root and has no parent")
        node = SceneNode(".", node_type, None, line)
    else:
        if not isinstance(parent, str):
            problems.add(path, line, f"node {name} needs parent=\"...\" (only the root has none)")
            return None
        if parent != "." and not any(n.path == parent for n in nodes):
            problems.add(path, line, f"node {name}: parent {parent!r} is not a node declared above")
        node_path = name if parent == "." else f"{parent}/{name}"
        if any(n.path == node_path for n in nodes):
            problems.add(path, line, f"two nodes at {node_path}")
        node = SceneNode(node_path, node_type, None, line)
    nodes.append(node)
    return node


def check_node_property(path, line, node, key, value, problems, api) -> None:
    if not api.loaded or node.type is None or key in NODE_PSEUDO_PROPERTIES:
        return
    if key.startswith("metadata/") or key.startswith("theme_override_"):
        return
    expected = api.property_type(node.type, key)
    if expected is None:
        problems.add(path, line, f"{node.type} has no property {key!r}")
        return
    # Godot converts between int and float when it sets a property; text and bools it does not.
    kinds = {"String": str, "StringName": str, "bool": bool, "int": (int, float), "float": (int, float)}
    want = kinds.get(expected)
    if want is not None:
        ok = isinstance(value, want) and not (expected in ("int", "float") and isinstance(value, bool))
        if not ok:
            problems.add(path, line, f"{node.type}.{key} is {expected}, got {value!r}")


def check_connection(path, line, attrs, nodes, problems, api) -> None:
    source = next((n for n in nodes if n.path == attrs.get("from")), None)
    if source is None:
        problems.add(path, line, f"[connection] from {attrs.get('from')!r}: no such node")
        return
    if api.loaded and source.type and not api.signal_exists(source.type, str(attrs.get("signal"))):
        problems.add(path, line, f"[connection] {source.type} has no signal {attrs.get('signal')!r}")
    if attrs.get("to") != "." and not any(n.path == attrs.get("to") for n in nodes):
        problems.add(path, line, f"[connection] to {attrs.get('to')!r}: no such node")


# ---------------------------------------------------------------------------------------------
# GDScript

GD_KEYWORDS = {
    "if", "elif", "else", "for", "while", "match", "break", "continue", "pass", "return", "class",
    "class_name", "extends", "is", "in", "as", "self", "signal", "func", "static", "const", "enum",
    "var", "breakpoint", "preload", "await", "yield", "assert", "void", "not", "and", "or",
    "true", "false", "null", "PI", "TAU", "INF", "NAN", "super", "when",
}
GD_BLOCK_KEYWORDS = {"if", "elif", "else", "for", "while", "match", "func", "class", "static"}
# GDScript's own functions (the rest come from extension_api.json's utility_functions).
GD_BUILTIN_FUNCS = {
    "assert", "char", "convert", "dict_to_inst", "get_stack", "inst_to_dict", "is_instance_of",
    "len", "load", "preload", "print_debug", "print_stack", "range", "type_exists", "Color8",
    "bool", "int", "float", "str", "super",
}
GD_TYPES_EXTRA = {"Variant", "void", "bool", "int", "float", "String", "Object"}


@dataclass
class Logical:
    line: int
    indent: str
    code: str  # comments removed, strings replaced by "" placeholders, one line


def gd_logical_lines(path, text: str, problems: Problems) -> list[Logical] | None:
    """Splits GDScript into logical lines: joins lines inside brackets or after a backslash,
    blanks out strings and comments, and checks brackets and strings as it goes."""
    out: list[Logical] = []
    i = 0
    n = len(text)
    line = 1
    stack: list[tuple[str, int]] = []
    buf: list[str] = []
    start_line = 1
    indent = ""
    at_line_start = True
    pairs = {")": "(", "]": "[", "}": "{"}
    while i < n:
        c = text[i]
        if at_line_start:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if not stack:
                indent = text[i:j]
                start_line = line
            i = j
            at_line_start = False
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            string_line = line
            prefix_raw = i > 0 and text[i - 1] == "r" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            i += len(quote)
            while True:
                if i >= n:
                    problems.add(path, string_line, "unterminated string")
                    return None
                if text[i] == "\\" and not prefix_raw:
                    i += 2
                    continue
                if text.startswith(quote, i):
                    i += len(quote)
                    break
                if text[i] == "\n":
                    if len(quote) == 1:
                        problems.add(path, string_line, "unterminated string (a newline inside \"...\")")
                        return None
                    line += 1
                i += 1
            buf.append('""')
            continue
        if c in "([{":
            stack.append((c, line))
            buf.append(c)
            i += 1
            continue
        if c in ")]}":
            if not stack:
                problems.add(path, line, f"unmatched {c!r}")
                return None
            opener, _ = stack.pop()
            if opener != pairs[c]:
                problems.add(path, line, f"{c!r} closes {opener!r}")
                return None
            buf.append(c)
            i += 1
            continue
        if c == "\\" and text[i + 1: i + 2] == "\n":
            i += 2
            line += 1
            buf.append(" ")
            continue
        if c == "\n":
            line += 1
            i += 1
            if stack:
                buf.append(" ")
                continue
            code = "".join(buf).strip()
            if code:
                out.append(Logical(start_line, indent, code))
            buf = []
            at_line_start = True
            continue
        if c == ";" and not stack:
            # Statements separated by ';' on one line: keep the first line's indentation.
            code = "".join(buf).strip()
            if code:
                out.append(Logical(start_line, indent, code))
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    if stack:
        opener, opened = stack[-1]
        problems.add(path, opened, f"{opener!r} is never closed")
        return None
    code = "".join(buf).strip()
    if code:
        out.append(Logical(start_line, indent, code))
    return out


PARAM_RE = re.compile(r"^\s*[A-Za-z_]\w*\s*(?::\s*[A-Za-z_][\w.]*(?:\[[\w.]+\])?\s*)?(?:(?::=|=)\s*.+)?\s*$")
TYPE_RE = r"[A-Za-z_][\w.]*(?:\[[\w.]+\])?"
FUNC_RE = re.compile(rf"^(?:static\s+)?func\s+([A-Za-z_]\w*)\s*\((.*)\)\s*(?:->\s*({TYPE_RE})\s*)?:(.*)$")
VAR_RE = re.compile(rf"^(?:@\w+(?:\(.*?\))?\s+)*(?:static\s+)?var\s+([A-Za-z_]\w*)\s*(?::\s*({TYPE_RE})?)?\s*(?:(?::=|=)\s*(.+))?(?::\s*)?$")
CONST_RE = re.compile(rf"^const\s+([A-Za-z_]\w*)\s*(?::\s*({TYPE_RE}))?\s*(?::=|=)\s*(.+)$")
SIGNAL_RE = re.compile(r"^signal\s+([A-Za-z_]\w*)\s*(?:\((.*)\))?$")


def split_top_level(s: str, sep: str = ",") -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def top_level_colon(code: str) -> int:
    depth = 0
    for k, ch in enumerate(code):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0 and code[k + 1: k + 2] != "=":
            return k
    return -1


@dataclass
class ScriptContext:
    """What a GDScript file is checked against."""

    api: Api
    scene_nodes: list[SceneNode] | None  # nodes of the scene the script is attached to
    attached_at: str | None  # that node's path in the scene


def check_gdscript(path, text: str, problems: Problems, ctx: ScriptContext, line_offset: int = 0) -> None:
    local = Problems()
    lines = gd_logical_lines(path, text, local)
    if lines is None:
        for item in local.items:
            p, ln, msg = item.split(":", 2)
            problems.add(p, int(ln) + line_offset, msg.strip())
        return

    def report(line: int, message: str) -> None:
        problems.add(path, line + line_offset, message)

    # Indentation: one character kind for the whole file, blocks opened by ':'.
    kind = None
    for lg in lines:
        if not lg.indent:
            continue
        chars = set(lg.indent)
        if len(chars) > 1:
            report(lg.line, "mixed tabs and spaces in indentation")
            return
        this = "tab" if "\t" in chars else "space"
        if kind is None:
            kind = this
        elif kind != this:
            report(lg.line, f"indented with {this}s, but the file indents with {kind}s")
            return
    levels = [""]
    expect_block = False
    prev_line = 0
    for lg in lines:
        current = levels[-1]
        if expect_block:
            if len(lg.indent) <= len(current) or not lg.indent.startswith(current):
                report(lg.line, f"expected an indented block after line {prev_line}")
                return
            levels.append(lg.indent)
        elif lg.indent != current:
            if len(lg.indent) > len(current):
                report(lg.line, "unexpected indentation (the line above does not open a block)")
                return
            while levels and levels[-1] != lg.indent:
                levels.pop()
            if not levels:
                report(lg.line, "unindent does not match any outer indentation level")
                return
        code = lg.code
        colon = top_level_colon(code)
        first = re.match(r"[A-Za-z_@]\w*", code)
        first_word = first.group(0) if first else ""
        opens = False
        if first_word in GD_BLOCK_KEYWORDS or (first_word == "static" and "func" in code):
            if colon < 0:
                report(lg.line, f"'{first_word}' line must end with ':'")
                return
            # The block's ':' ends the line; earlier ones annotate (`for x: int in xs:`), and a
            # one-line body may follow it (`if done: return`).
            opens = code.endswith(":")
        elif code.endswith(":") and colon == len(code) - 1:
            opens = True  # a match branch
        expect_block = opens
        prev_line = lg.line
    if expect_block:
        report(prev_line, f"expected an indented block after line {prev_line}")
        return

    # Declarations and the order of the first statements.
    seen_statement = False
    has_extends = False
    base_class = "RefCounted"
    declared: set[str] = set()
    funcs: set[str] = set()
    typed: dict[str, str] = {}  # variable -> type, from `var x: T` and typed parameters
    for lg in lines:
        code = lg.code
        top = lg.indent == ""
        if re.search(r"\bawait\s*(?:$|[)\],;])", code):
            report(lg.line, "await needs a signal or a coroutine call after it")
        if top and code.startswith("@") and not re.match(r"@\w+(\(.*\))?\s+(var|func|static)", code):
            if not re.fullmatch(r"@\w+(\(.*\))?", code):
                report(lg.line, f"malformed annotation {code!r}")
            continue
        if top and code.startswith("class_name"):
            if not re.fullmatch(r"class_name\s+[A-Za-z_]\w*(\s*,\s*\"\")?", code):
                report(lg.line, "malformed class_name")
            declared.add(code.split()[1].rstrip(","))
            continue
        if top and code.startswith("extends"):
            m = re.fullmatch(r'extends\s+(?:([A-Za-z_][\w.]*)|"")', code)
            if not m:
                report(lg.line, "malformed extends")
                return
            if seen_statement:
                report(lg.line, "extends must come before any other statement")
            has_extends = True
            base_class = m.group(1) or base_class
            continue
        if top and not seen_statement and not has_extends:
            report(lg.line, "the first statement must be 'extends <Class>'")
        seen_statement = True
        m = re.match(r"^(?:static\s+)?func\b", code)
        if m:
            fm = FUNC_RE.match(code)
            if not fm:
                report(lg.line, f"malformed func declaration: {code!r}")
                continue
            name, params, ret, _ = fm.groups()
            funcs.add(name)
            if params.strip():
                for param in split_top_level(params):
                    if not PARAM_RE.match(param):
                        report(lg.line, f"malformed parameter {param.strip()!r} in func {name}")
                    pm = re.match(rf"\s*([A-Za-z_]\w*)\s*:\s*({TYPE_RE})", param)
                    if pm:
                        typed[pm.group(1)] = pm.group(2)
                        declared.add(pm.group(1))
                    else:
                        declared.add(param.split(":")[0].split("=")[0].strip())
            continue
        if re.match(r"^(?:@\w+(?:\(.*?\))?\s+)*(?:static\s+)?var\b", code):
            vm = VAR_RE.match(code)
            if not vm:
                report(lg.line, f"malformed var declaration: {code!r}")
                continue
            declared.add(vm.group(1))
            if vm.group(2):
                typed[vm.group(1)] = vm.group(2)
            continue
        if code.startswith("const"):
            cm = CONST_RE.match(code)
            if not cm:
                report(lg.line, f"malformed const declaration: {code!r}")
                continue
            declared.add(cm.group(1))
            continue
        if code.startswith("signal"):
            if not SIGNAL_RE.match(code):
                report(lg.line, f"malformed signal declaration: {code!r}")
            continue
        if code.startswith("enum"):
            em = re.match(r"enum\s+(\w+)", code)
            if em:
                declared.add(em.group(1))
            continue
        fm = re.match(r"^for\s+([A-Za-z_]\w*)(?:\s*:\s*(" + TYPE_RE + r"))?\s+in\s+.+:", code)
        if fm:
            declared.add(fm.group(1))
            if fm.group(2):
                typed[fm.group(1)] = fm.group(2)
        elif re.match(r"for\b", code):
            report(lg.line, f"malformed for statement: {code!r}")
    if not has_extends:
        report(1, "no 'extends' statement")

    api = ctx.api
    if not api.loaded:
        return
    all_code = [(lg.line, lg.code) for lg in lines]
    base_members = lambda name: api.has_member(base_class, name)  # noqa: E731

    for line, code in all_code:
        # Strip node paths ($A/B, %Name) before looking at words.
        for pm in re.finditer(r'\$("?)([\w/]+)\1', code):
            node_path = pm.group(2)
            if ctx.scene_nodes is not None and ctx.attached_at is not None:
                full = node_path if ctx.attached_at == "." else f"{ctx.attached_at}/{node_path}"
                if not any(n.path == full for n in ctx.scene_nodes):
                    report(line, f"${node_path}: no such node in the scene this script is attached to")
        scrubbed = re.sub(r'\$("?)[\w/]+\1|%\w+(?=\W|$)(?<!%\s)', " NODE ", code)
        scrubbed = re.sub(r'"[^"]*"', '""', scrubbed)
        # Class-like words must be known types.
        for wm in re.finditer(r"(?<![\w.])([A-Z][A-Za-z0-9_]*)\b", scrubbed):
            word = wm.group(1)
            if word == "NODE" or word in declared or word.isupper() or word in GD_KEYWORDS:
                continue
            if not (api.is_class(word) or word in api.global_enums or word in api.singletons
                    or word in GD_TYPES_EXTRA or word in GD_BUILTIN_FUNCS):
                report(line, f"unknown class or type {word!r}")
        # Bare calls must be ours, GDScript's, Godot's global functions, or the base class's.
        for cm in re.finditer(r"(?<![\w.$])([a-z_]\w*)\s*\(", scrubbed):
            name = cm.group(1)
            if name in GD_KEYWORDS or name in funcs or name in declared:
                continue
            if name in GD_BUILTIN_FUNCS or name in api.utility_functions or base_members(name):
                continue
            if re.search(rf"\bfunc\s+{name}\b", scrubbed):
                continue
            report(line, f"unknown function {name}()")
        # Members of typed variables and of classes.
        for mm in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\.([A-Za-z_]\w*)", scrubbed):
            owner, member = mm.groups()
            cls = typed.get(owner)
            if cls is None and (api.is_class(owner) or owner in api.singletons) and owner not in declared:
                cls = owner
            if cls is None or not (api.is_class(cls)):
                continue
            if not api.has_member(cls, member):
                report(line, f"{cls} has no member {member!r} ({owner}.{member})")
        # Members of self (bare names) are not checked: locals would need a full resolver.


def gdscript_blocks(markdown: str) -> list[tuple[int, str]]:
    blocks = []
    for m in re.finditer(r"^```gdscript[^\n]*\n(.*?)^```", markdown, re.S | re.M):
        blocks.append((line_of(markdown, m.start(1)) - 1, m.group(1)))
    return blocks


# ---------------------------------------------------------------------------------------------
# The whole binding


def find_files(root: Path):
    # tests/engine's scene and script are not checked here: they run only inside a copy of the
    # demo project, in a real Godot (tests/engine/run.sh), which reads them for real.
    def included(p: Path) -> bool:
        parts = p.relative_to(root).parts
        if parts[:2] == ("tests", "engine"):
            return False
        return not any(part in {"target", ".godot", "bin"} or part.startswith(".") for part in parts[:-1])

    files = [p for p in sorted(root.rglob("*")) if p.is_file() and included(p)]
    return {
        "gdextension": [p for p in files if p.suffix == ".gdextension"],
        "project": [p for p in files if p.name == "project.godot"],
        "scene": [p for p in files if p.suffix == ".tscn"],
        "script": [p for p in files if p.suffix == ".gd"],
        "markdown": [p for p in files if p.suffix == ".md"],
    }


def project_root_of(path: Path) -> Path | None:
    for parent in path.parents:
        if (parent / "project.godot").is_file():
            return parent
    return None


def check_all(root: Path, api_path: Path | None, entry_symbol: str) -> Problems:
    problems = Problems()
    api = Api()
    if api_path is not None:
        api.load(api_path)
    load_rust_class(api, root / "src" / "node.rs")
    files = find_files(root)
    for kind in ("gdextension", "project", "scene", "script"):
        if not files[kind]:
            problems.add(root, 0, f"no {kind} file found")
    for p in files["gdextension"]:
        check_gdextension(p, p.read_text(), problems, entry_symbol)
    for p in files["project"]:
        check_project(p, p.read_text(), problems)
    attached: dict[Path, tuple[list[SceneNode], str]] = {}
    for p in files["scene"]:
        project = project_root_of(p)
        if project is None:
            problems.add(p, 1, "scene outside a Godot project (no project.godot above it)")
            continue
        nodes = check_scene(p, p.read_text(), problems, api, project)
        for n in nodes:
            if n.script and n.script.startswith("res://"):
                attached[(project / n.script[len("res://"):]).resolve()] = (nodes, n.path)
    for p in files["script"]:
        nodes, at = attached.get(p.resolve(), (None, None))
        check_gdscript(p, p.read_text(), problems, ScriptContext(api, nodes, at))
    snippets = 0
    for p in files["markdown"]:
        for offset, block in gdscript_blocks(p.read_text()):
            snippets += 1
            check_gdscript(p, block, problems, ScriptContext(api, None, None), line_offset=offset)
    check_all.counts = {k: len(v) for k, v in files.items()} | {"readme_gdscript_blocks": snippets}
    return problems


# ---------------------------------------------------------------------------------------------
# Self-test: every one of these breakages must be caught.

def replace_once(old: str, new: str):
    def mutate(text: str) -> str:
        if old not in text:
            raise AssertionError(f"self-test mutation target not found: {old!r}")
        return text.replace(old, new, 1)
    return mutate


MUTATIONS = [
    # (file relative to the binding, description, mutation)
    ("voipchat.gdextension", "entry symbol renamed", replace_once('"gdext_rust_init"', '"gdext_init"')),
    ("voipchat.gdextension", "unterminated string", replace_once('libvoipchat_godot.so"\n', "libvoipchat_godot.so\n")),
    ("voipchat.gdextension", "linux release entry dropped",
     lambda t: "\n".join(l for l in t.split("\n") if not l.startswith("linux.release"))),
    ("voipchat.gdextension", "a line without '='", replace_once("reloadable = false", "reloadable false")),
    ("voipchat.gdextension", "Godot 3 version", replace_once("compatibility_minimum = 4.2", "compatibility_minimum = 3.5")),
    ("voipchat.gdextension", "bad section header", replace_once("[libraries]", "[libraries")),
    ("demo/project.godot", "Godot 3 config_version", replace_once("config_version=5", "config_version=4")),
    ("demo/project.godot", "missing main scene", replace_once('"res://main.tscn"', '"res://nope.tscn"')),
    ("demo/project.godot", "unclosed constructor", replace_once('"GL Compatibility")', '"GL Compatibility"')),
    ("demo/main.tscn", "Godot 3 scene format", replace_once("format=3", "format=2")),
    ("demo/main.tscn", "wrong load_steps", replace_once("load_steps=2", "load_steps=3")),
    ("demo/main.tscn", "unknown parent", replace_once('parent="Layout/Buttons"', 'parent="Layout/Nope"')),
    ("demo/main.tscn", "undeclared ExtResource", replace_once('ExtResource("1_main")', 'ExtResource("2_x")')),
    ("demo/main.tscn", "property line without '='", replace_once('text = "Join"', 'text "Join"')),
    ("demo/main.tscn", "unknown node type", replace_once('type="ItemList"', 'type="ItemLsit"')),
    ("demo/main.tscn", "unknown property", replace_once('text = "Leave"', 'txet = "Leave"')),
    ("demo/main.tscn", "property of the wrong type", replace_once("disabled = true", 'disabled = "yes"')),
    ("demo/main.tscn", "unknown VoipChat property", replace_once('app_id = "wxdemo"', 'appid = "wxdemo"')),
    ("demo/main.tscn", "unterminated string", replace_once('text = "Server"', 'text = "Server')),
    ("demo/main.tscn", "no header", lambda t: t.split("\n", 1)[1]),
    ("demo/main.gd", "unclosed parenthesis", replace_once("voip.join(options)", "voip.join(options")),
    ("demo/main.gd", "spaces among tabs", replace_once("\tjoin_button.disabled = true", "    join_button.disabled = true")),
    ("demo/main.gd", "unknown signal awaited", replace_once("await voip.join_completed", "await voip.join_complete")),
    ("demo/main.gd", "unknown VoipChat method", replace_once("voip.exit()", "voip.leave()")),
    ("demo/main.gd", "misspelt class", replace_once("HMACContext.new()", "HMACContex.new()")),
    ("demo/main.gd", "unknown enum value", replace_once("HashingContext.HASH_SHA256", "HashingContext.HASH_SHA265")),
    ("demo/main.gd", "extends removed", replace_once("extends Control\n", "")),
    ("demo/main.gd", "malformed func", replace_once("func _ready() -> void:", "func _ready( -> void:")),
    ("demo/main.gd", "func without '->' before its return type",
     replace_once("func _ready() -> void:", "func _ready() void:")),
    ("demo/main.gd", "malformed parameter", replace_once("func _on_mute_toggled(muted: bool)", "func _on_mute_toggled(muted bool)")),
    ("demo/main.gd", "if without ':'", replace_once('if result["errCode"] == 0:', 'if result["errCode"] == 0')),
    ("demo/main.gd", "missing block", replace_once("\tif speaking:\n\t\t\tmembers_list", "\tif speaking:\n\t\tmembers_list")),
    ("demo/main.gd", "node path not in the scene", replace_once("$Layout/Members", "$Layout/Players")),
    ("demo/main.gd", "unterminated string", replace_once('"Joining..."', '"Joining...')),
    ("demo/main.gd", "unknown function", replace_once('print("voipchat state', 'prnt("voipchat state')),
    ("demo/main.gd", "bare await", replace_once("var result: Dictionary = await voip.join_completed", "var result: Dictionary = await")),
    ("demo/main.gd", "unknown VoipChat constant", replace_once("VoipChat.STATE_RECONNECTING", "VoipChat.STATE_RECONECTING")),
    ("README.md", "broken README GDScript", replace_once("await voip.join_completed", "await voip.join_completed)")),
]


def self_test(root: Path, api_path: Path | None, entry_symbol: str) -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        pristine = Path(tmp) / "pristine"
        shutil.copytree(root, pristine, ignore=shutil.ignore_patterns("target", ".godot", "bin"))
        base = check_all(pristine, api_path, entry_symbol)
        if base:
            print("self-test: the untouched copy was rejected:\n  " + "\n  ".join(base.items))
            return 1
        for rel, description, mutate in MUTATIONS:
            if api_path is None and description.startswith(("unknown", "misspelt", "node path", "property of")):
                continue
            work = Path(tmp) / "work"
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(pristine, work)
            target = work / rel
            target.write_text(mutate(target.read_text()))
            found = check_all(work, api_path, entry_symbol)
            rel_hits = [i for i in found.items if rel in i]
            if rel_hits:
                print(f"self-test ok: {rel}: {description}: {rel_hits[0].split(rel, 1)[1].lstrip(':')}")
            else:
                failures += 1
                print(f"self-test FAILED: {rel}: {description}: not detected "
                      f"(problems: {found.items or 'none'})")
    print(f"self-test: {len(MUTATIONS) - failures} of {len(MUTATIONS)} broken copies rejected")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="bindings/godot")
    parser.add_argument("--api", type=Path, help="Godot's extension_api.json (from the gdextension-api crate)")
    parser.add_argument("--entry-symbol", default="gdext_rust_init")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.root, args.api, args.entry_symbol)
    problems = check_all(args.root, args.api, args.entry_symbol)
    counts = ", ".join(f"{v} {k}" for k, v in check_all.counts.items())
    if problems:
        print("\n".join(problems.items))
        print(f"Godot files: {len(problems.items)} problem(s) ({counts})")
        return 1
    api_note = "with" if args.api else "WITHOUT"
    print(f"Godot files: all valid ({counts}; {api_note} Godot 4.2 API checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
