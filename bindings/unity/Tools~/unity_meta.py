#!/usr/bin/env python3
"""Unity .meta files for the package, and a lint of its manifest.

A package installed from git is read-only to Unity: an asset without a .meta file is ignored
(with a warning), so every committed file and folder carries one. GUIDs are derived from the
path, so regenerating gives the same ones.

  unity_meta.py write PACKAGE_DIR          add the missing .meta files (never rewrites one)
  unity_meta.py check PACKAGE_DIR          every asset has its .meta, no orphans, unique GUIDs,
                                           package.json and the .asmdef are valid
  unity_meta.py plugin FILE TARGET         write the PluginImporter .meta of a native library
                                           (TARGET: linux-x86_64, windows-x86_64, macos,
                                           android-arm64, ios)

Unity ignores hidden names and folders ending in "~" (Samples~, Tests~, Tools~): those get no
.meta. Native libraries under Plugins/ are built, not committed; build-plugins.sh writes their
.meta (and their folders') when it copies them in.
"""
import hashlib
import json
import os
import sys

NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".a", ".bundle")


def guid_for(rel):
    return hashlib.md5(("com.voipchat.sdk:" + rel.replace(os.sep, "/")).encode()).hexdigest()


def ignored(name):
    return name.startswith(".") or name.endswith("~") or name.endswith(".meta")


def assets(root):
    """Every path Unity imports, relative to the package root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            found.append(os.path.normpath(os.path.join(rel_dir, d)))
        for f in sorted(filenames):
            if not ignored(f):
                found.append(os.path.normpath(os.path.join(rel_dir, f)))
    return found


TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def meta_text(rel, is_dir):
    head = "fileFormatVersion: 2\nguid: %s\n" % guid_for(rel)
    if is_dir:
        return head + "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n" + TAIL
    name = os.path.basename(rel)
    if name.endswith(".cs"):
        return head + ("MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
                       "  executionOrder: 0\n  icon: {instanceID: 0}\n") + TAIL
    if name.endswith(".asmdef"):
        return head + "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + TAIL
    if name == "package.json":
        return head + "PackageManifestImporter:\n  externalObjects: {}\n" + TAIL
    if name.endswith((".md", ".txt", ".json")):
        return head + "TextScriptImporter:\n  externalObjects: {}\n" + TAIL
    return head + "DefaultImporter:\n  externalObjects: {}\n" + TAIL


# Per target: (Editor OS or None, Editor CPU, standalone platform or None, Android CPU or None, iOS).
PLUGIN_TARGETS = {
    "linux-x86_64": ("Linux", "x86_64", "Linux64", None, False),
    "windows-x86_64": ("Windows", "x86_64", "Win64", None, False),
    "macos": ("OSX", "AnyCPU", "OSXUniversal", None, False),
    "android-arm64": (None, None, None, "ARM64", False),
    "ios": (None, None, None, None, True),
}

# What the static library needs from the system on iOS (Core Audio through cpal, the
# keychain/trust store through rustls-native-certs).
IOS_FRAMEWORKS = "AudioToolbox;AVFoundation;CoreAudio;Security;"


def plugin_meta(rel, target):
    editor_os, editor_cpu, standalone, android_cpu, ios = PLUGIN_TARGETS[target]

    def flag(on):
        return 1 if on else 0

    exclude = {
        "Exclude Android": flag(android_cpu is None),
        "Exclude Editor": flag(editor_os is None),
        "Exclude Linux64": flag(standalone != "Linux64"),
        "Exclude OSXUniversal": flag(standalone != "OSXUniversal"),
        "Exclude Win": 1,
        "Exclude Win64": flag(standalone != "Win64"),
        "Exclude iOS": flag(not ios),
    }
    lines = [
        "fileFormatVersion: 2",
        "guid: %s" % guid_for(rel),
        "PluginImporter:",
        "  externalObjects: {}",
        "  serializedVersion: 2",
        "  iconMap: {}",
        "  executionOrder: {}",
        "  defineConstraints: []",
        "  isPreloaded: 0",
        "  isOverridable: 0",
        "  isExplicitlyReferenced: 0",
        "  validateReferences: 1",
        "  platformData:",
        "  - first:",
        "      : Any",
        "    second:",
        "      enabled: 0",
        "      settings:",
    ]
    lines += ["        %s: %d" % (k, v) for k, v in sorted(exclude.items())]
    lines += [
        "  - first:",
        "      Android: Android",
        "    second:",
        "      enabled: %d" % flag(android_cpu),
        "      settings:",
        "        CPU: %s" % (android_cpu or "ARMv7"),
        "  - first:",
        "      Any: ",
        "    second:",
        "      enabled: 0",
        "      settings: {}",
        "  - first:",
        "      Editor: Editor",
        "    second:",
        "      enabled: %d" % flag(editor_os),
        "      settings:",
        "        CPU: %s" % (editor_cpu or "AnyCPU"),
        "        DefaultValueInitialized: true",
        "        OS: %s" % (editor_os or "AnyOS"),
    ]
    for platform in ("Linux64", "OSXUniversal", "Win", "Win64"):
        cpu = ("x86_64" if platform in ("Linux64", "Win64") else "AnyCPU") if standalone == platform else "None"
        lines += [
            "  - first:",
            "      Standalone: %s" % platform,
            "    second:",
            "      enabled: %d" % flag(standalone == platform),
            "      settings:",
            "        CPU: %s" % cpu,
        ]
    lines += [
        "  - first:",
        "      iPhone: iOS",
        "    second:",
        "      enabled: %d" % flag(ios),
        "      settings:",
        "        AddToEmbeddedBinaries: false",
        "        CPU: AnyCPU",
        "        CompileFlags: ",
        "        FrameworkDependencies: %s" % (IOS_FRAMEWORKS if ios else ""),
    ]
    return "\n".join(lines) + "\n" + TAIL


def write(root):
    written = 0
    for rel in assets(root):
        path = os.path.join(root, rel)
        meta = path + ".meta"
        if os.path.exists(meta):
            continue
        if os.path.isfile(path) and path.endswith(NATIVE_SUFFIXES):
            continue  # a native library: build-plugins.sh writes its PluginImporter .meta
        with open(meta, "w", encoding="utf-8", newline="\n") as out:
            out.write(meta_text(rel, os.path.isdir(path)))
        written += 1
    print("unity_meta: wrote %d .meta file(s)" % written)
    return 0


def check(root):
    problems = []
    guids = {}
    paths = assets(root)
    for rel in paths:
        meta = os.path.join(root, rel) + ".meta"
        if not os.path.exists(meta):
            problems.append("%s has no .meta (run Tools~/unity_meta.py write)" % rel)
            continue
        guid = None
        for line in open(meta, encoding="utf-8"):
            if line.startswith("guid: "):
                guid = line.split()[1]
        if not guid or len(guid) != 32:
            problems.append("%s.meta has no valid guid" % rel)
        elif guid in guids:
            problems.append("%s.meta repeats the guid of %s" % (rel, guids[guid]))
        else:
            guids[guid] = rel
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not ignored(d)]
        for f in filenames:
            if f.endswith(".meta"):
                asset = os.path.join(dirpath, f[: -len(".meta")])
                if not os.path.exists(asset):
                    problems.append("%s: orphan .meta" % os.path.relpath(os.path.join(dirpath, f), root))
    problems += lint_package(root)
    for p in problems:
        print("PACKAGE: " + p)
    print("unity_meta: %d assets, %d problem(s)" % (len(paths), len(problems)))
    return 1 if problems else 0


def lint_package(root):
    problems = []
    try:
        manifest = json.load(open(os.path.join(root, "package.json"), encoding="utf-8"))
    except (OSError, ValueError) as e:
        return ["package.json: %s" % e]
    for key in ("name", "version", "displayName", "unity", "description"):
        if not manifest.get(key):
            problems.append("package.json lacks %s" % key)
    name = manifest.get("name", "")
    if name != name.lower() or not name.startswith("com."):
        problems.append("package.json name %r: reverse-domain, lowercase" % name)
    for sample in manifest.get("samples", []):
        if not os.path.isdir(os.path.join(root, sample.get("path", ""))):
            problems.append("sample path %r does not exist" % sample.get("path"))
    asmdefs = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, "Runtime")):
        asmdefs += [os.path.join(dirpath, f) for f in filenames if f.endswith(".asmdef")]
    if len(asmdefs) != 1:
        problems.append("Runtime/ should hold exactly one .asmdef, found %d" % len(asmdefs))
    for a in asmdefs:
        try:
            if not json.load(open(a, encoding="utf-8")).get("name"):
                problems.append("%s has no name" % a)
        except ValueError as e:
            problems.append("%s: %s" % (a, e))
    for required in ("README.md", "CHANGELOG.md", "Runtime", "Plugins", "Samples~"):
        if not os.path.exists(os.path.join(root, required)):
            problems.append("missing %s" % required)
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        return write(argv[2])
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    if len(argv) == 4 and argv[1] == "plugin":
        path, target = argv[2], argv[3]
        if target not in PLUGIN_TARGETS:
            print("unknown target %s (one of %s)" % (target, ", ".join(sorted(PLUGIN_TARGETS))))
            return 2
        root = find_package_root(path)
        rel = os.path.relpath(path, root)
        with open(path + ".meta", "w", encoding="utf-8", newline="\n") as out:
            out.write(plugin_meta(rel, target))
        return 0
    print(__doc__)
    return 2


def find_package_root(path):
    d = os.path.dirname(os.path.abspath(path))
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "package.json")):
            return d
        d = os.path.dirname(d)
    raise SystemExit("no package.json above %s" % path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
