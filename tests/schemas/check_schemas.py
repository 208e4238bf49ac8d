#!/usr/bin/env python3
# Checks schemas/*.schema.json (valid draft-07 schemas) and validates every
# policy, users and secrets YAML under examples/ and specs/, plus the bench
# policy, against them; deliberately wrong objects must be rejected.
# usage: check_schemas.py [REPO_ROOT]
import glob
import json
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(ROOT, "schemas")


class Loader(yaml.SafeLoader):
    """YAML as cairn reads it (YAML 1.2 core): timestamps stay strings, only
    true/false are booleans, and a duplicate key is an error."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r" % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                             re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))
Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)


def load_schemas():
    """Every schema file by its file name (what the relative $refs name)."""
    store = {}
    for path in sorted(glob.glob(os.path.join(SCHEMAS, "*.schema.json"))):
        with open(path) as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
        store[os.path.basename(path)] = schema
    return store


def make_validator(store, name):
    """A draft-07 validator for store[name] that resolves the relative $refs
    between the schema files, on old (RefResolver) and new (referencing)
    jsonschema alike."""
    schema = store[name]
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7
        registry = Registry().with_resources(
            (n, Resource.from_contents(s, default_specification=DRAFT7)) for n, s in store.items())
        return jsonschema.Draft7Validator(schema, registry=registry)
    except ImportError:
        resolver = jsonschema.RefResolver(base_uri=name, referrer=schema, store=dict(store))
        return jsonschema.Draft7Validator(schema, resolver=resolver)


def json_path(parts):
    out = "$"
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else ("." + p if re.match(r"^[A-Za-z_][\w-]*$", p) else "[%s]" % json.dumps(p))
    return out


def errors_of(validator, instance):
    """(json path, message) of every error, deepest first within a path."""
    found = []
    for e in validator.iter_errors(instance):
        leaves = [e]
        if e.context:  # oneOf/anyOf: report the alternatives' errors
            leaves = e.context
        for leaf in leaves:
            found.append((json_path(leaf.absolute_path), leaf.message))
    return sorted(set(found))


class Checker:
    def __init__(self, store):
        self.policy = make_validator(store, "policy.schema.json")
        self.users = make_validator(store, "users.schema.json")
        self.secrets = make_validator(store, "secrets.schema.json")
        self.passed = 0
        self.failed = 0
        self.skipped = []

    def check(self, validator, instance, where, expect_error=False):
        errs = errors_of(validator, instance)
        if expect_error or not errs:
            self.passed += 1
            return
        self.failed += 1
        for path, msg in errs:
            print("FAIL %s: %s: %s" % (where, path, msg))

    def policy_objects(self, objects, where, base="$", expect_error=False):
        """Each object of a policy list is one check, reported by its own path."""
        if not isinstance(objects, list):
            self.check(self.policy, objects, "%s: %s" % (where, base), expect_error)
            return
        for i, obj in enumerate(objects):
            errs = errors_of(self.policy, [obj])
            if expect_error or not errs:
                self.passed += 1
                continue
            self.failed += 1
            for path, msg in errs:
                print("FAIL %s: %s[%d]%s: %s" % (where, base, i, path[len("$[0]"):], msg))

    def spec(self, doc, where):
        """A spec: {policy: [objects], steps: [{objects: [...]}, ...], ...}. A
        spec or step that expects an error may hold objects the schemas refuse."""
        expect = expects_error(doc)
        if "policy" in doc:
            self.policy_objects(doc["policy"], where, "$.policy", expect)
        steps = doc.get("steps")
        if isinstance(steps, list):
            for i, step in enumerate(steps):
                if not isinstance(step, dict):
                    continue
                for key in ("objects", "policy", "apply"):
                    if key in step:
                        self.policy_objects(step[key], where, "$.steps[%d].%s" % (i, key),
                                            expect or expects_error(step))

    def file(self, path):
        rel = os.path.relpath(path, ROOT)
        try:
            with open(path) as f:
                docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
        except yaml.YAMLError as e:
            self.failed += 1
            print("FAIL %s: yaml: %s" % (rel, str(e).replace("\n", " ")))
            return
        base = os.path.basename(path)
        for n, doc in enumerate(docs):
            where = rel if len(docs) == 1 else "%s (document %d)" % (rel, n + 1)
            if base in ("users.yaml", "users.yml") or is_list_of(doc, "passwordhash"):
                self.check(self.users, doc, where)
            elif base in ("secrets.yaml", "secrets.yml") or is_list_of(doc, "secrets"):
                self.check(self.secrets, doc, where)
            elif isinstance(doc, list) and all(isinstance(o, dict) and "kind" in o for o in doc):
                self.policy_objects(doc, where)
            elif isinstance(doc, dict) and "kind" in doc:
                self.policy_objects([doc], where)
            elif isinstance(doc, dict) and ("policy" in doc or "steps" in doc):
                self.spec(doc, where)
            else:
                self.skipped.append(where)


def is_list_of(doc, key):
    return isinstance(doc, list) and doc and all(isinstance(o, dict) and key in o for o in doc)


ERROR_KEYS = {"error", "errors", "expect_error", "expect-error", "refused", "rejected"}


def expects_error(node):
    """Whether a spec or step declares an expected error (at its top or in `expect`)."""
    if not isinstance(node, dict):
        return False
    if ERROR_KEYS & set(node):
        return True
    expect = node.get("expect")
    return isinstance(expect, dict) and bool(ERROR_KEYS & set(expect))


# Objects the schemas must refuse: (what is wrong, validator name, instance).
NEGATIVE = [
    ("unknown key in a service", "policy",
     [{"kind": "service", "metadata": {"namespace": "main", "name": "web"}, "colour": "blue"}]),
    ("bad identifier as name", "policy",
     [{"kind": "contract", "metadata": {"namespace": "main", "name": "1web"}}]),
    ("bad identifier as namespace", "policy",
     [{"kind": "contract", "metadata": {"namespace": "main ns", "name": "web"}}]),
    ("code type helm", "policy",
     [{"kind": "service", "metadata": {"namespace": "main", "name": "web"},
       "components": [{"name": "web", "code": {"type": "helm", "params": {}}}]}]),
    ("component with both code and contract", "policy",
     [{"kind": "service", "metadata": {"namespace": "main", "name": "web"},
       "components": [{"name": "web", "contract": "db", "code": {"type": "docker"}}]}]),
    ("image that is not a string", "policy",
     [{"kind": "service", "metadata": {"namespace": "main", "name": "web"},
       "components": [{"name": "web", "code": {"type": "docker", "params": {"image": ["x"]}}}]}]),
    ("cluster type kubernetes", "policy",
     [{"kind": "cluster", "metadata": {"namespace": "system", "name": "c"}, "type": "kubernetes",
       "config": {}}]),
    ("cluster outside system", "policy",
     [{"kind": "cluster", "metadata": {"namespace": "main", "name": "c"}, "type": "docker",
       "config": {}}]),
    ("unknown kind", "policy",
     [{"kind": "deployment", "metadata": {"namespace": "main", "name": "d"}}]),
    ("negative rule weight", "policy",
     [{"kind": "rule", "metadata": {"namespace": "main", "name": "r"}, "weight": -1,
       "actions": {"dependency": "reject"}}]),
    ("rule verdict that is neither allow nor reject", "policy",
     [{"kind": "rule", "metadata": {"namespace": "main", "name": "r"},
       "actions": {"dependency": "deny"}}]),
    ("unknown role", "policy",
     [{"kind": "aclrule", "metadata": {"namespace": "system", "name": "a"},
       "actions": {"add-role": {"superuser": "*"}}}]),
    ("bad ttl", "policy",
     [{"kind": "dependency", "metadata": {"namespace": "main", "name": "d"}, "user": "Alice",
       "contract": "web", "ttl": "3 days"}]),
    ("bad label key", "policy",
     [{"kind": "dependency", "metadata": {"namespace": "main", "name": "d"}, "user": "Alice",
       "contract": "web", "labels": {"bad key": "x"}}]),
    ("criteria with a misspelt key", "policy",
     [{"kind": "rule", "metadata": {"namespace": "main", "name": "r"},
       "criteria": {"require-al": ["true"]}, "actions": {"dependency": "reject"}}]),
    ("dataset whose url is not PostgreSQL", "policy",
     [{"kind": "dataset", "metadata": {"namespace": "main", "name": "d"},
       "source": {"url": "mysql://db/shop"}, "roots": [{"table": "customer"}]}]),
    ("dataset with an unknown transformer", "policy",
     [{"kind": "dataset", "metadata": {"namespace": "main", "name": "d"},
       "source": {"url": "postgres://r@db/shop"}, "anonymize": {"customer.email": "emial"}}]),
    ("dataset column without a table", "policy",
     [{"kind": "dataset", "metadata": {"namespace": "main", "name": "d"},
       "source": {"url": "postgres://r@db/shop"}, "anonymize": {"email": "email"}}]),
    ("dataset in system", "policy",
     [{"kind": "dataset", "metadata": {"namespace": "system", "name": "d"},
       "source": {"url": "postgres://r@db/shop"}, "roots": [{"table": "customer"}]}]),
    ("user with an unknown key", "users", [{"name": "Alice", "password": "demo"}]),
    ("secret that is not a string", "secrets", [{"user": "Alice", "secrets": {"appKey": 12}}]),
]


def main():
    try:
        store = load_schemas()
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print("FAIL schemas: %s" % e)
        return 1
    if "policy.schema.json" not in store:
        print("FAIL schemas: no policy.schema.json in %s" % SCHEMAS)
        return 1
    c = Checker(store)
    c.passed += len(store)  # each schema passed check_schema

    for what, name, instance in NEGATIVE:
        if errors_of(getattr(c, name), instance):
            c.passed += 1
        else:
            c.failed += 1
            print("FAIL self-check: %s was accepted by %s.schema.json" % (what, name))

    files = []
    for top in ("examples", "specs"):
        for ext in ("yaml", "yml"):
            files += glob.glob(os.path.join(ROOT, top, "**", "*." + ext), recursive=True)
    bench = os.path.join(ROOT, "..", "shared", "bench", "aptomi", "small", "policy.yaml")
    if os.path.exists(bench):
        files.append(os.path.normpath(bench))
    else:
        print("note: %s absent, bench policy not checked" % os.path.normpath(bench))
    for path in sorted(set(files)):
        c.file(path)
    for where in c.skipped:
        print("note: %s: not a policy, users, secrets or spec file, skipped" % where)

    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
