"""Reading Terraform and Packer files with python-hcl2, for the deploy checks.

Shared by scripts/check_deploy.py (Linode) and scripts/check_deploy_digitalocean.py: the
parsed tree without python-hcl2's quotes and markers, the blocks of a directory gathered
by kind, the check that every reference is declared, and the one list of problems found.
"""
import re
import sys
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parent.parent
errors = []


def check(cond, msg):
    """Records msg as a problem when cond is false; returns cond."""
    if not cond:
        errors.append(msg)
    return cond


def unq(s):
    """python-hcl2 keeps the quotes of strings and block labels: drop them."""
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def clean(x):
    """The parsed tree without comments, markers and label quotes."""
    if isinstance(x, dict):
        return {unq(k): clean(v) for k, v in x.items() if k not in ("__comments__", "__inline_comments__", "__is_block__")}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return unq(x)


def load(path):
    """The cleaned tree of one HCL file; {} (and a problem) when it does not parse."""
    try:
        with open(path) as f:
            return clean(hcl2.load(f))
    except Exception as e:  # noqa: BLE001 - any parse error is a failure to report
        errors.append(f"{path.relative_to(ROOT)}: does not parse: {e}")
        return {}


def blocks(doc, kind):
    """[(label, body)] for one-label blocks (variable, output, locals as ('', body))."""
    out = []
    for item in doc.get(kind, []):
        if kind == "locals":
            out.append(("", item))
        else:
            for label, body in item.items():
                out.append((label, body))
    return out


def blocks2(doc, kind):
    """[(type, name, body)] for two-label blocks (resource, data, source)."""
    out = []
    for item in doc.get(kind, []):
        for typ, named in item.items():
            for name, body in named.items():
                out.append((typ, name, body))
    return out


def text(x):
    """Any parsed value as one string to search in."""
    return repr(x)


def one(body, key):
    """A nested block given once (a one-element list of dicts) as its dict."""
    v = body.get(key)
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict):
        return v[0]
    return v


def as_list(v):
    """A block given once or many times as a list."""
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def call_args(expr, fn):
    """The top-level argument texts of the first call fn(...) in an expression, or None."""
    s = str(expr)
    m = re.search(r"\b%s\(" % re.escape(fn), s)
    if not m:
        return None
    # A stack of what is open: brackets, '"' for a string, "${" for an interpolation in one.
    args, stack, start, i = [], [], m.end(), m.end()
    while i < len(s):
        c = s[i]
        if stack and stack[-1] == '"':
            if c == "\\":
                i += 1
            elif s.startswith("${", i):
                stack.append("${")
                i += 1
            elif c == '"':
                stack.pop()
        elif c == '"':
            stack.append('"')
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack:
                args.append(s[start:i].strip())
                return args
            stack.pop()
        elif c == "," and not stack:
            args.append(s[start:i].strip())
            start = i + 1
        i += 1
    return None


def parse_expr(expr):
    """One HCL expression (e.g. an object literal found by call_args) as a cleaned tree."""
    try:
        return clean(hcl2.loads(f"x = {expr}\n")).get("x")
    except Exception:  # noqa: BLE001 - an expression python-hcl2 cannot read is reported by the caller
        return None


class Terraform:
    """Every .tf file of one directory, gathered by kind."""

    def __init__(self, tf_dir):
        self.dir = tf_dir
        self.files = sorted(tf_dir.glob("*.tf"))
        self.variables, self.outputs, self.locals, self.resources, self.datas = {}, {}, {}, {}, {}
        self.tf_blocks, self.docs = [], []
        where = tf_dir.relative_to(ROOT)
        check(self.files, f"{where}/: no .tf files")
        for path in self.files:
            doc = load(path)
            self.docs.append(doc)
            for label, body in blocks(doc, "variable"):
                check(label not in self.variables, f"variable {label} is declared twice")
                self.variables[label] = body
            for label, body in blocks(doc, "output"):
                self.outputs[label] = body
            for _, body in blocks(doc, "locals"):
                self.locals.update(body)
            for typ, name, body in blocks2(doc, "resource"):
                self.resources[(typ, name)] = body
            for typ, name, body in blocks2(doc, "data"):
                self.datas[(typ, name)] = body
            self.tf_blocks += doc.get("terraform", [])

    def providers(self):
        """required_providers, merged over every terraform block."""
        out = {}
        for tb in self.tf_blocks:
            for rp in tb.get("required_providers", []):
                out.update(rp)
        return out

    def of_type(self, typ):
        """[(name, body)] of the resources of one type."""
        return [(n, b) for (t, n), b in self.resources.items() if t == typ]

    def need(self, typ, count=1):
        """The resources of one type, and a problem when there are fewer than count."""
        found = self.of_type(typ)
        check(len(found) >= count, f"resource {typ}: want {count}, found {len(found)}")
        return found

    def expand(self, expr, seen=()):
        """An expression with local.X replaced by its value, transitively."""
        out = str(expr)
        for m in set(re.findall(r"\blocal\.([A-Za-z_]\w*)", out)):
            if m in self.locals and m not in seen:
                out += " " + self.expand(self.locals[m], seen + (m,))
        return out

    def check_references(self, prefixes):
        """Every var., local., data. and resource reference (types starting with one of
        prefixes, e.g. ("linode", "random")) names something declared here."""
        resource_types = {t for t, _ in self.resources}
        data_types = {t for t, _ in self.datas}
        typed = re.compile(r"(?<![\w.])((?:%s)_[a-z_]+)\.([A-Za-z_][\w-]*)" % "|".join(prefixes))
        for doc in self.docs:
            t = text(doc)
            for m in re.finditer(r"\bvar\.([A-Za-z_][\w-]*)", t):
                check(m.group(1) in self.variables, f"terraform: var.{m.group(1)} is not declared")
            for m in re.finditer(r"\blocal\.([A-Za-z_][\w-]*)", t):
                check(m.group(1) in self.locals, f"terraform: local.{m.group(1)} is not declared")
            for m in re.finditer(r"\bdata\.([a-z][\w]*)\.([A-Za-z_][\w-]*)", t):
                check((m.group(1), m.group(2)) in self.datas, f"terraform: data.{m.group(1)}.{m.group(2)} is not declared")
            for m in typed.finditer(t):
                typ, name = m.group(1), m.group(2)
                if typ in resource_types:
                    check((typ, name) in self.resources, f"terraform: {typ}.{name} is not declared")
                elif typ not in data_types:
                    check(False, f"terraform: {typ}.{name} refers to a resource type that is not declared")


def check_packer_references(tpl, where):
    """Every var.X and local.X of a Packer template is declared in it."""
    pvars = {label for label, _ in blocks(tpl, "variable")}
    plocals = {}
    for _, body in blocks(tpl, "locals"):
        plocals.update(body)
    for label, body in blocks(tpl, "variable"):
        check(str(body.get("description", "")).strip(), f"{where}: variable {label} has no description")
    for m in re.finditer(r"\bvar\.([A-Za-z_]\w*)", text(tpl)):
        check(m.group(1) in pvars, f"{where}: var.{m.group(1)} is not declared")
    for m in re.finditer(r"\blocal\.([A-Za-z_]\w*)", text(tpl)):
        check(m.group(1) in plocals, f"{where}: local.{m.group(1)} is not declared")


def report(name, summary):
    """Prints the problems and exits 1, or prints the summary."""
    if errors:
        for e in errors:
            print(f"FAIL {e}")
        print(f"{name}: {len(errors)} problem(s)")
        sys.exit(1)
    print(f"{name}: ok ({summary})")
