#!/usr/bin/env python3
"""Checks that the C# P/Invoke layer (Runtime/Core/Native.cs) matches include/voipchat.h.

Compared, both ways (a name on one side only is an error):
  - every function: name, parameter count, parameter and return types;
  - every struct: name, [StructLayout(LayoutKind.Sequential)], field names, order and types
    (a C array field `T name[N]` is N C# fields name0 .. name<N-1> of T's C# type);
  - every callback typedef: a Cdecl delegate of the same name and signature;
  - every #define: a C# const of the same name and value.
Marshalling rules enforced on the way: `bool` is [MarshalAs(UnmanagedType.I1)], `size_t` is
UIntPtr, `const char *` is IntPtr or a UTF-8 byte[] (never string), a `const` pointer is never
[Out]/out, every DllImport is Cdecl. Across all C# sources given with --sources: every delegate
handed to native code is a static readonly field whose target is a static method marked
[MonoPInvokeCallback(typeof(<that delegate>))].

  check_pinvoke.py --header include/voipchat.h --csharp Runtime/Core/Native.cs [--sources DIR]
                   [--emit-layout-c FILE]

--emit-layout-c writes a C program that prints each struct's size and each field's offset as
the C compiler lays them out; the C# test compares them with Marshal.SizeOf / OffsetOf.
Exit status 0 when consistent, 1 with one line per problem otherwise.
"""
import argparse
import os
import re
import sys

INT_TYPES = {
    "int32_t": "int",
    "uint32_t": "uint",
    "uint16_t": "ushort",
    "int64_t": "long",
    "uint64_t": "ulong",
    "int16_t": "short",
    "uint8_t": "byte",
    "int8_t": "sbyte",
    "size_t": "UIntPtr",
    "void": "void",
}


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def norm_c_type(t):
    t = re.sub(r"\s+", " ", t.strip())
    t = re.sub(r"\s*\*\s*", " * ", t).strip()
    return re.sub(r"\s+", " ", t)


def split_c_decl(decl):
    """'const char *const *open_id_list' -> ('const char * const *', 'open_id_list')."""
    decl = decl.strip()
    m = re.match(r"^(.*?)(\w+)$", decl, re.S)
    if not m:
        raise ValueError("cannot parse C declaration: %r" % decl)
    return norm_c_type(m.group(1)), m.group(2)


def split_c_field(decl):
    """A struct field as (type, C# name, C expression for offsetof). A fixed-size array
    `uint8_t *planes[3]` becomes three fields of its element type, planes0..planes2 (as C#
    declares them: separate fields keep the struct blittable, where a ByValArray of IntPtr
    would not be), at offsetof(planes[0]) and so on."""
    m = re.match(r"^(.*?)\[\s*(\d+)\s*\]\s*$", decl.strip(), re.S)
    if not m:
        ctype, name = split_c_decl(decl)
        return [(ctype, name, name)]
    ctype, name = split_c_decl(m.group(1))
    return [(ctype, "%s%d" % (name, i), "%s[%d]" % (name, i)) for i in range(int(m.group(2)))]


def parse_header(path):
    raw = open(path, encoding="utf-8").read()
    text = strip_c_comments(raw)
    h = {"defines": {}, "aliases": {}, "opaque": set(), "fnptrs": {}, "structs": {}, "functions": {}}
    for name, value in re.findall(r"^\s*#define\s+(\w+)\s+(\S+)\s*$", text, re.M):
        h["defines"][name] = value
    for base, name in re.findall(r"typedef\s+(\w+)\s+(\w+)\s*;", text):
        if base != "struct":
            h["aliases"][name] = base
    for a, b in re.findall(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", text):
        h["opaque"].add(b)
    for ret, name, params in re.findall(r"typedef\s+([^;()]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;", text):
        h["fnptrs"][name] = (norm_c_type(ret), parse_c_params(params))
    for body, name in re.findall(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S):
        fields = []
        for decl in body.split(";"):
            if decl.strip():
                fields.extend(split_c_field(decl))
        h["structs"][name] = fields
    # Functions: every declaration after `extern "C" {`, preprocessor lines and braces removed.
    start = text.find('extern "C"')
    if start < 0:
        raise ValueError('%s: no extern "C" block' % path)
    decls = re.sub(r"^\s*#.*$", "", text[start + len('extern "C"'):], flags=re.M)
    decls = decls.replace("{", " ").replace("}", " ")
    for decl in decls.split(";"):
        decl = re.sub(r"\s+", " ", decl).strip()
        if not decl:
            continue
        m = re.match(r"^(.*?)\((.*)\)$", decl)
        if not m:
            raise ValueError("cannot parse function declaration: %r" % decl)
        ctype, name = split_c_decl(m.group(1))
        if name in h["functions"]:
            raise ValueError("function %s declared twice" % name)
        h["functions"][name] = (ctype, parse_c_params(m.group(2)))
    return h


def parse_c_params(params):
    params = params.strip()
    if params in ("", "void"):
        return []
    return [split_c_decl(p) for p in params.split(",")]


# ---- C# ----------------------------------------------------------------------------------


def strip_cs_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_cs_param(p):
    """'[In] byte[] open_id' -> dict(attrs, modifier, type, name)."""
    p = p.strip()
    attrs = []
    while p.startswith("["):
        end = p.index("]")
        attrs.append(p[1:end])
        p = p[end + 1:].strip()
    rest = p.split()
    modifier = None
    if rest and rest[0] in ("ref", "out", "in"):
        modifier = rest.pop(0)
    if len(rest) != 2:
        raise ValueError("cannot parse C# parameter: %r" % p)
    return {"attrs": [a.strip() for a in attrs], "modifier": modifier, "type": rest[0], "name": rest[1].lstrip("@")}


def parse_cs_params(params):
    params = params.strip()
    return [] if not params else [parse_cs_param(p) for p in params.split(",")]


def parse_csharp(path):
    text = strip_cs_comments(open(path, encoding="utf-8").read())
    cs = {"consts": {}, "delegates": {}, "structs": {}, "functions": {}, "problems": []}
    for name, value in re.findall(r"public\s+const\s+\w+\s+(\w+)\s*=\s*([^;]+);", text):
        cs["consts"][name] = value.strip()
    for attrs, ret, name, params in re.findall(
        r"((?:\[[^\]]*\]\s*)*)public\s+delegate\s+(\S+)\s+(\w+)\s*\(([^)]*)\)\s*;", text
    ):
        cs["delegates"][name] = {
            "cdecl": "UnmanagedFunctionPointer(CallingConvention.Cdecl)" in attrs,
            "ret": ret,
            "params": parse_cs_params(params),
        }
    for attrs, name, body in re.findall(r"((?:\[[^\]]*\]\s*)*)public\s+struct\s+(\w+)\s*\{(.*?)\}", text, re.S):
        fields = []
        for fattrs, ftype, fname in re.findall(r"((?:\[[^\]]*\]\s*)*)public\s+(\S+)\s+(\w+)\s*;", body):
            fields.append({"attrs": re.findall(r"\[([^\]]*)\]", fattrs), "type": ftype, "name": fname})
        cs["structs"][name] = {"sequential": "StructLayout(LayoutKind.Sequential)" in attrs, "fields": fields}
    for attrs, ret, name, params in re.findall(
        r"((?:\[[^\]]*\]\s*)+)public\s+static\s+extern\s+(\S+)\s+(\w+)\s*\(([^)]*)\)\s*;", text
    ):
        if name in cs["functions"]:
            cs["problems"].append("C#: %s is declared twice" % name)
        cs["functions"][name] = {
            "attrs": re.findall(r"\[([^\]]*)\]", attrs),
            "ret": ret,
            "params": parse_cs_params(params),
        }
    return cs


# ---- compatibility -------------------------------------------------------------------------


class Checker:
    def __init__(self, h):
        self.h = h

    def resolve(self, ctype):
        seen = 0
        while ctype in self.h["aliases"] and seen < 10:
            ctype = self.h["aliases"][ctype]
            seen += 1
        return ctype

    def has_marshal(self, attrs, kind):
        return any(re.sub(r"\s", "", a) in ("MarshalAs(UnmanagedType.%s)" % kind, "return:MarshalAs(UnmanagedType.%s)" % kind) for a in attrs)

    def compatible(self, ctype, cs, where):
        """Returns None when the C# side fits the C type, else the reason."""
        t = self.resolve(ctype)
        cst, mod, attrs = cs["type"], cs.get("modifier"), cs.get("attrs", [])
        cst = cst.replace("Native.", "")
        outish = mod == "out" or any(a.strip() == "Out" for a in attrs)
        if t == "bool":
            if cst != "bool" or mod:
                return "bool must be C# bool"
            if not self.has_marshal(attrs, "I1"):
                return "bool must be [MarshalAs(UnmanagedType.I1)] (one byte)"
            return None
        if t in INT_TYPES:
            return None if (cst == INT_TYPES[t] and mod is None) else "expected %s" % INT_TYPES[t]
        if t in self.h["fnptrs"]:
            return None if (cst in ("IntPtr", t) and mod is None) else "expected IntPtr or delegate %s" % t
        if t in self.h["structs"]:
            if where == "field":
                return "a struct field of struct type by value is not expected"
            return None if (cst == t and mod is None) else "expected %s by value" % t
        if not t.endswith("*"):
            return "unknown C type %r" % ctype
        # Pointers.
        const = t.startswith("const ")
        pointee = norm_c_type(t[len("const "):] if const else t)[:-1].strip()
        pointee = self.resolve(pointee)
        if const and outish:
            return "a const pointer must not be [Out]/out"
        if cst == "IntPtr" and mod is None:
            return None
        if where in ("field", "return"):
            return "pointers in structs and returns must be IntPtr"
        if pointee == "char":
            if cst == "byte[]" and mod is None:
                if not const and not outish:
                    return "a writable char buffer must be [Out] byte[]"
                return None
            if cst == "string":
                return "const char * must not be marshalled as string (not UTF-8 everywhere): use byte[] or IntPtr"
            return "expected IntPtr or byte[]"
        if pointee == "float":
            if cst == "float[]" and mod is None:
                if not const and not outish:
                    return "a writable float buffer must be [Out] float[]"
                return None
            return "expected IntPtr or float[]"
        if pointee in INT_TYPES and pointee != "void":
            if mod in ("out", "ref") and cst == INT_TYPES[pointee]:
                return None
            return "expected IntPtr, out or ref %s" % INT_TYPES[pointee]
        if pointee in self.h["structs"]:
            if mod == "ref" and cst == pointee:
                return None
            return "expected IntPtr or ref %s" % pointee
        return "expected IntPtr"


def check(header, csharp, sources=None):
    h = parse_header(header)
    cs = parse_csharp(csharp)
    c = Checker(h)
    problems = list(cs["problems"])

    # #defines <-> consts
    for name, value in h["defines"].items():
        if name not in cs["consts"]:
            problems.append("#define %s = %s: no C# const" % (name, value))
        elif cs["consts"][name] != value:
            problems.append("#define %s = %s: C# has %s" % (name, value, cs["consts"][name]))
    for name in cs["consts"]:
        if name.startswith("VOIP_") and name not in h["defines"]:
            problems.append("C# const %s: not in the header" % name)

    # callback typedefs <-> delegates
    for name, (ret, params) in h["fnptrs"].items():
        d = cs["delegates"].get(name)
        if d is None:
            problems.append("callback type %s: no C# delegate" % name)
            continue
        if not d["cdecl"]:
            problems.append("delegate %s: needs [UnmanagedFunctionPointer(CallingConvention.Cdecl)]" % name)
        why = c.compatible(ret, {"type": d["ret"]}, "return")
        if why:
            problems.append("delegate %s returns %s: %s" % (name, d["ret"], why))
        compare_params(c, "delegate " + name, params, d["params"], problems)
    for name in cs["delegates"]:
        if name not in h["fnptrs"]:
            problems.append("C# delegate %s: no callback type in the header" % name)

    # structs
    for name, fields in h["structs"].items():
        s = cs["structs"].get(name)
        if s is None:
            problems.append("struct %s: no C# struct" % name)
            continue
        if not s["sequential"]:
            problems.append("struct %s: needs [StructLayout(LayoutKind.Sequential)]" % name)
        cfields = s["fields"]
        for i, (ctype, fname, _cexpr) in enumerate(fields):
            if i >= len(cfields):
                problems.append("struct %s: field %s (%s) missing in C#" % (name, fname, ctype))
                continue
            f = cfields[i]
            if f["name"] != fname:
                problems.append("struct %s: field %d is %s in the header, %s in C#" % (name, i, fname, f["name"]))
            why = c.compatible(ctype, f, "field")
            if why:
                problems.append("struct %s: field %s (%s) is %s in C#: %s" % (name, fname, ctype, f["type"], why))
        for f in cfields[len(fields):]:
            problems.append("struct %s: C# field %s not in the header" % (name, f["name"]))
    for name in cs["structs"]:
        if name not in h["structs"]:
            problems.append("C# struct %s: not in the header" % name)

    # functions
    for name, (ret, params) in h["functions"].items():
        f = cs["functions"].get(name)
        if f is None:
            problems.append("function %s: no C# DllImport" % name)
            continue
        if not any(re.sub(r"\s", "", a).startswith("DllImport(") and "CallingConvention=CallingConvention.Cdecl" in re.sub(r"\s", "", a) for a in f["attrs"]):
            problems.append("function %s: needs [DllImport(..., CallingConvention = CallingConvention.Cdecl)]" % name)
        why = c.compatible(ret, {"type": f["ret"], "attrs": f["attrs"]}, "return")
        if why:
            problems.append("function %s returns %s in C#: %s" % (name, f["ret"], why))
        compare_params(c, "function " + name, params, f["params"], problems)
    for name in cs["functions"]:
        if name not in h["functions"]:
            problems.append("C# DllImport %s: not in the header" % name)

    if sources:
        problems.extend(check_callbacks(sources, set(h["fnptrs"])))
    return problems, h


def compare_params(c, what, cparams, csparams, problems):
    if len(cparams) != len(csparams):
        problems.append("%s: %d parameters in the header, %d in C#" % (what, len(cparams), len(csparams)))
        return
    for (ctype, cname), p in zip(cparams, csparams):
        why = c.compatible(ctype, p, "param")
        if why:
            problems.append("%s: parameter %s (%s) is %s%s in C#: %s" % (
                what, cname, ctype, (p["modifier"] + " ") if p.get("modifier") else "", p["type"], why))


def check_callbacks(sources, fnptr_names):
    """Delegates handed to native code: static readonly fields over [MonoPInvokeCallback] static methods."""
    problems = []
    files = []
    for root, _dirs, names in os.walk(sources):
        files += [os.path.join(root, n) for n in names if n.endswith(".cs")]
    texts = {f: strip_cs_comments(open(f, encoding="utf-8").read()) for f in sorted(files)}
    for path, text in texts.items():
        rel = os.path.relpath(path, sources)
        static_fields = {}
        for kind, field, target in re.findall(
            r"static\s+readonly\s+(?:Native\.)?(\w+)\s+(\w+)\s*=\s*(?:new\s+(?:Native\.)?\w+\s*\(\s*)?(\w+)\s*\)?\s*;", text
        ):
            if kind in fnptr_names:
                static_fields[field] = (kind, target)
        for kind, field, target in [(k, f, t) for f, (k, t) in static_fields.items()]:
            m = re.search(r"((?:\[[^\]]*\]\s*)*)(?:private\s+|internal\s+|public\s+)?static\s+\w+\s+%s\s*\(" % re.escape(target), text)
            if not m:
                problems.append("%s: %s's target %s is not a static method in the same file" % (rel, field, target))
                continue
            attrs = re.sub(r"\s", "", m.group(1))
            if "MonoPInvokeCallback(typeof(Native.%s))" % kind not in attrs and "MonoPInvokeCallback(typeof(%s))" % kind not in attrs:
                problems.append("%s: %s, called by native code as %s, lacks [MonoPInvokeCallback(typeof(Native.%s))]" % (rel, target, kind, kind))
        for arg in re.findall(r"GetFunctionPointerForDelegate\s*\(\s*([^)]*?)\s*\)", text):
            if arg not in static_fields:
                problems.append("%s: GetFunctionPointerForDelegate(%s): hand native code only static readonly delegate fields" % (rel, arg))
        for kind in re.findall(r"new\s+(?:Native\.)?(\w+)\s*\(", text):
            if kind in fnptr_names and not re.search(r"static\s+readonly\s+(?:Native\.)?%s\s+\w+\s*=\s*new" % kind, text):
                problems.append("%s: a %s delegate created outside a static readonly field could be collected" % (rel, kind))
    return problems


def emit_layout_c(h, header, path):
    lines = [
        "/* Generated by check_pinvoke.py: the C compiler's layout of every struct in the header. */",
        "#include <stddef.h>",
        "#include <stdio.h>",
        '#include "%s"' % os.path.abspath(header),
        "int main(void) {",
    ]
    for name, fields in sorted(h["structs"].items()):
        lines.append('    printf("struct %s %%zu\\n", sizeof(%s));' % (name, name))
        for _ctype, fname, cexpr in fields:
            lines.append('    printf("field %s %s %%zu\\n", offsetof(%s, %s));' % (name, fname, name, cexpr))
    lines += ["    return 0;", "}", ""]
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--csharp", required=True)
    ap.add_argument("--sources", help="directory of C# sources whose native callbacks are checked")
    ap.add_argument("--emit-layout-c", help="write a C program printing struct sizes and offsets")
    args = ap.parse_args()
    problems, h = check(args.header, args.csharp, args.sources)
    if args.emit_layout_c:
        emit_layout_c(h, args.header, args.emit_layout_c)
    counts = "%d functions, %d structs, %d callback types, %d #defines" % (
        len(h["functions"]), len(h["structs"]), len(h["fnptrs"]), len(h["defines"]))
    if problems:
        for p in problems:
            print("MISMATCH: " + p)
        print("check_pinvoke: %d problem(s) (%s in %s)" % (len(problems), counts, args.header))
        return 1
    print("check_pinvoke: C# matches %s (%s)" % (args.header, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
