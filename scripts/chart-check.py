#!/usr/bin/env python3
"""Checks charts/flink-monitor with a real Helm engine. Run it through scripts/chart-check.sh,
which installs what it needs (helm-sdkpy, kubernetes-validate from PyPI) into a venv.

What it checks, for the default values, ci/all-on-values.yaml and a few more value sets:
  1. `helm lint` (Helm 4, through helm-sdkpy's Lint) reports no error and no warning;
     values with an unknown key or a wrong type are rejected (lint error and install error).
  2. The chart renders: a real `helm install` (helm-sdkpy's Install) against an in-memory
     API server on 127.0.0.1 (scripts/fake_apiserver.py), since helm-sdkpy has no
     template / dry-run action. Every object Helm sends is validated against the
     Kubernetes JSON schemas of kubernetes-validate (strict: unknown fields fail), for the
     newest Kubernetes it ships and for the oldest the chart supports (Chart.yaml
     kubeVersion). The ServiceMonitor (not a built-in kind) gets a structural check.
     The Deployment, Service, probes, security settings, env vars (every one a variable
     `flink-monitor run` knows), selectors and NOTES.txt are checked too.
  3. RBAC: the rendered ClusterRole / Roles equal `flink-monitor rbac [--enable-stop]
     [--leader-election]`: namespaced rules in the ClusterRole when all namespaces are
     watched, else in a Role per watched namespace (and not in the ClusterRole); stop rules
     in the ClusterRole exactly when stop is enabled; the Lease Role exactly when
     replicaCount > 1; every binding points at them and at the release's ServiceAccount.
  4. The chart's CRD equals crds/flinkjobs.flinkmonitor.dev.yaml and `flink-monitor crd`.
  5. The Dockerfile (no Docker engine here): hadolint finds nothing; multi-stage, the
     binary as ENTRYPOINT, CMD ["run"], EXPOSE 8080, a numeric non-root USER equal to the
     chart's runAsUser; .dockerignore lets in what it copies.

Exit status 0 when everything passed, 1 with a list of failures otherwise.
The flink-monitor binary comes from $FLINK_MONITOR_BIN, else `cargo build` (debug).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The in-memory Helm release store: no release Secrets on the fake API server (they would
# be sent as protobuf). The Go library reads the environment when it is loaded and does not
# see later changes, so set it by starting again.
if os.environ.get("HELM_DRIVER") != "memory":
    os.environ["HELM_DRIVER"] = "memory"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import helm_sdkpy  # noqa: E402
import kubernetes_validate  # noqa: E402
import kubernetes_validate.utils as kv_utils  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_apiserver import FakeApiServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "flink-monitor"
CRD_NAME = "flinkjobs.flinkmonitor.dev.yaml"
RELEASE = "flink-monitor"
NAMESPACE = "flink-monitor"
# Helm's lint severities (helm.sh/helm/v4/pkg/chart/v2/lint/support).
SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}
# Variables the chart sets that are not `run` flags: read by the binary directly.
EXTRA_ENV = {"RUST_LOG", "POD_NAME"}

# Value sets that must be accepted, besides values.yaml itself and ci/*.yaml.
SCENARIOS = {
    "stop without token, 3 replicas": {"stop": {"enabled": True}, "replicaCount": 3},
    "one watched namespace, no stop": {"watchNamespaces": ["flink"]},
    "kubernetes off, static clusters": {
        "kubernetes": "off",
        "clusters": [{"name": "prod", "url": "http://jm.prod:8081"}],
        "networkPolicy": {"enabled": True, "egress": {"enabled": True}},
    },
    "own ServiceAccount, ids left to the platform": {
        "serviceAccount": {"create": False, "name": "existing"},
        "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
    },
}

# Value sets that must be rejected, with a word the error must contain.
REJECTED = {
    "unknown top-level key": ({"replicaCont": 2}, "replicaCont"),
    "unknown nested key": ({"stop": {"enable": True}}, "enable"),
    "wrong type (string for integer)": ({"replicaCount": "two"}, "replicaCount"),
    "wrong type (string for boolean)": ({"serviceMonitor": {"enabled": "yes"}}, "enabled"),
    "unknown enum value": ({"kubernetes": "maybe"}, "kubernetes"),
    "duration without unit": ({"pollInterval": "5"}, "pollInterval"),
    "bad static cluster name": ({"clusters": [{"name": "a.b", "url": "http://x:8081"}]}, "name"),
    "unknown key in a Kubernetes object": ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, "efect"),
}


class Report:
    def __init__(self, quiet: bool = False) -> None:
        self.failures: list[str] = []
        self.passed = 0
        self.quiet = quiet

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{what}{': ' + detail if detail else ''}")
            if not self.quiet:
                print(f"  FAIL {what}{': ' + detail if detail else ''}")
        return ok

    def note(self, line: str) -> None:
        if not self.quiet:
            print(f"  ok   {line}")

    def section(self, title: str) -> None:
        if not self.quiet:
            print(title)


# ---------------------------------------------------------------------------- helpers


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"chart-check: `{shlex.join(cmd)}` failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


_binary: list[str] = []


def flink_monitor(*args: str) -> str:
    """Runs the flink-monitor binary: $FLINK_MONITOR_BIN, else the debug build (built once)."""
    if not _binary:
        path = os.environ.get("FLINK_MONITOR_BIN")
        if not path:
            print("building flink-monitor (cargo build)")
            run(["cargo", "build", "-q", "--bin", "flink-monitor"])
            metadata = json.loads(run(["cargo", "metadata", "-q", "--format-version", "1", "--no-deps"]))
            path = str(Path(metadata["target_directory"]) / "debug" / "flink-monitor")
        _binary.append(path)
    return run([_binary[0], *args])


def coalesce(defaults, overrides):
    """Helm's merge of user values over the chart's: maps merge, null deletes, rest replaces."""
    if not isinstance(defaults, dict) or not isinstance(overrides, dict):
        return copy.deepcopy(overrides)
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def chart_with_values(workdir: Path, values: dict | None) -> Path:
    """A copy of the chart whose values.yaml holds `values` merged over the defaults
    (helm-sdkpy's Lint takes no values, and lint checks values.yaml against the schema)."""
    target = workdir / "flink-monitor"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(CHART, target)
    if values is not None:
        defaults = yaml.safe_load((CHART / "values.yaml").read_text())
        (target / "values.yaml").write_text(yaml.safe_dump(coalesce(defaults, values), sort_keys=False))
    return target


def lint(chart: Path) -> list[tuple[str, str]]:
    config = helm_sdkpy.Configuration(namespace=NAMESPACE)
    result = asyncio.run(helm_sdkpy.Lint(config).run(str(chart)))
    return [(SEVERITY.get(m.get("Severity"), str(m.get("Severity"))), m.get("Path", "?"))
            for m in result.get("Messages") or []]


def install(values: dict | None) -> tuple[dict | None, str, FakeApiServer]:
    """helm install into the fake API server -> (release, error, server)."""
    with FakeApiServer() as api:
        config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=api.kubeconfig(NAMESPACE))
        try:
            release = asyncio.run(helm_sdkpy.Install(config).run(
                RELEASE, str(CHART), values=values, wait=False, timeout=60))
            return release, "", api
        except helm_sdkpy.HelmError as error:
            return None, str(error), api


def rule_set(rules) -> list[tuple]:
    return sorted((tuple(sorted(r.get("apiGroups") or [])), tuple(sorted(r.get("resources") or [])),
                   tuple(sorted(r.get("verbs") or [])), tuple(sorted(r.get("resourceNames") or [])))
                  for r in rules or [])


def rule_diff(rendered, expected) -> str:
    """What the rendered rules lack and have too much, readably."""
    def show(rule):
        groups, resources, verbs, names = rule
        text = f"{','.join(g or 'core' for g in groups)}/{','.join(resources)}: {','.join(verbs)}"
        return text + (f" (names {','.join(names)})" if names else "")
    got, want = rule_set(rendered), rule_set(expected)
    missing = [show(r) for r in want if r not in got]
    extra = [show(r) for r in got if r not in want]
    return "; ".join(filter(None, [f"missing {missing}" if missing else "", f"not in the binary's list {extra}" if extra else ""]))


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def kube_versions() -> list[str]:
    """The newest Kubernetes kubernetes-validate has schemas for, and the chart's minimum."""
    newest = kv_utils.latest_version()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    floor = re.search(r"(\d+\.\d+)", chart.get("kubeVersion", "")) if chart.get("kubeVersion") else None
    versions = [kv_utils.major_minor(newest)]
    if floor and floor.group(1) != versions[0]:
        versions.append(floor.group(1))
    return versions


# ---------------------------------------------------------------------------- checks


def check_crd(report: Report) -> None:
    report.section("CRD: the chart's copy")
    before = len(report.failures)
    committed = (ROOT / "crds" / CRD_NAME).read_text()
    chart_copy = CHART / "crds" / CRD_NAME
    if report.check(chart_copy.exists(), f"charts/flink-monitor/crds/{CRD_NAME} exists"):
        report.check(chart_copy.read_text() == committed,
                     f"charts/flink-monitor/crds/{CRD_NAME} equals crds/{CRD_NAME}",
                     f"copy it: cp crds/{CRD_NAME} charts/flink-monitor/crds/")
    report.check(flink_monitor("crd") == committed, f"crds/{CRD_NAME} equals `flink-monitor crd`",
                 f"regenerate: cargo run -q -- crd > crds/{CRD_NAME}")
    others = sorted(p.name for p in (CHART / "crds").iterdir() if p.name != CRD_NAME)
    report.check(not others, "the chart's crds/ holds only the FlinkJob CRD", ", ".join(others))
    if len(report.failures) == before:
        report.note(f"charts/flink-monitor/crds/{CRD_NAME} = crds/{CRD_NAME} = `flink-monitor crd`")


def check_dockerfile(report: Report) -> None:
    """No Docker engine here: hadolint, and the facts the chart relies on."""
    report.section("Dockerfile")
    dockerfile = ROOT / "Dockerfile"
    text = dockerfile.read_text()
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True)
    report.check(done.returncode == 0, "hadolint finds nothing in the Dockerfile", (done.stdout + done.stderr).strip())
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    froms = [line for line in instructions if line.upper().startswith("FROM ")]
    report.check(len(froms) >= 2, "the Dockerfile is multi-stage", f"{len(froms)} FROM")
    final = instructions[instructions.index(froms[-1]):]
    report.check('ENTRYPOINT ["/usr/local/bin/flink-monitor"]' in final, "ENTRYPOINT is the flink-monitor binary")
    report.check('CMD ["run"]' in final, 'CMD ["run"]')
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    report.check("EXPOSE 8080" in final, "EXPOSE 8080 (the chart's containerPort)")
    user = next((line.split()[1] for line in final if line.upper().startswith("USER ")), "")
    uid = user.split(":")[0]
    report.check(uid.isdigit() and int(uid) != 0, "the final stage runs as a numeric non-root USER", user)
    report.check(uid == str(values["podSecurityContext"]["runAsUser"]),
                 "the image's user is the chart's default runAsUser", f"{user} vs {values['podSecurityContext']['runAsUser']}")
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    sources = [word for line in instructions if line.upper().startswith("COPY ") and "--from" not in line
               for word in line.split()[1:-1]]
    missing = [src for src in sources if ignore[:1] == ["*"] and f"!{src.rstrip('/')}" not in
               {i.rstrip("/") for i in ignore}]
    report.check(not missing, ".dockerignore lets in every file the Dockerfile copies", ", ".join(missing))
    report.note(f"Dockerfile: hadolint clean, {len(froms)} stages, USER {user}, copies {', '.join(sources)}")


def check_lint(report: Report, name: str, values: dict | None, workdir: Path) -> None:
    messages = lint(chart_with_values(workdir, values))
    bad = [m for m in messages if m[0] in ("warning", "error", "unknown")]
    if report.check(not bad, f"[{name}] helm lint: no error or warning",
                    "; ".join(f"{sev} in {path}" for sev, path in bad)
                    + " (helm-sdkpy does not pass lint messages' text; the install step below shows it)"):
        report.note(f"[{name}] helm lint: {len(messages)} message(s), "
                    f"{', '.join(sorted(set(f'{s} in {p}' for s, p in messages))) or 'none'}")


def check_rejected(report: Report, workdir: Path) -> None:
    report.section("Schema: bad values are rejected")
    for name, (values, word) in REJECTED.items():
        messages = lint(chart_with_values(workdir, values))
        errors = [path for sev, path in messages if sev == "error"]
        report.check(bool(errors), f"[{name}] helm lint reports an error", f"values {json.dumps(values)} passed lint")
        release, error, _ = install(values)
        ok = release is None and "schema" in error.lower() and word in error
        if report.check(ok, f"[{name}] helm install refuses {json.dumps(values)} naming {word!r}",
                        "it was installed" if release else error):
            first = next((line.strip() for line in error.splitlines() if word in line), error.splitlines()[-1])
            report.note(f"[{name}] rejected: {first}")


def validate_objects(report: Report, name: str, objects: list[dict], versions: list[str]) -> None:
    for obj in objects:
        ident = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if obj.get("apiVersion") == "monitoring.coreos.com/v1":
            continue  # not a built-in kind: checked in check_servicemonitor
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.absolute_path)
                report.check(False, f"[{name}] {ident} is valid for Kubernetes {version}", f"{path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                report.check(False, f"[{name}] {ident} has a schema for Kubernetes {version}", error.message)
            else:
                report.passed += 1
    report.note(f"[{name}] {len(objects)} objects valid against the Kubernetes {' and '.join(versions)} "
                f"schemas (kubernetes-validate {kubernetes_validate.__version__}, strict)")


def check_rbac(report: Report, name: str, values: dict, objects: list[dict], permissions: dict) -> None:
    def of_kind(kind):
        return [o for o in objects if o["kind"] == kind]

    fullname = next(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    service_account = deployment["spec"]["template"]["spec"].get("serviceAccountName", "default")
    watch = values.get("watchNamespaces") or []
    stop = values["stop"]["enabled"]
    leader = int(values["replicaCount"]) > 1
    uses_kubernetes = values["kubernetes"] != "off"

    roles = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in of_kind("Role")}
    cluster_roles = {o["metadata"]["name"]: o for o in of_kind("ClusterRole")}
    if not (values["rbac"]["create"] and uses_kubernetes):
        report.check(not roles and not cluster_roles and not of_kind("RoleBinding") and not of_kind("ClusterRoleBinding"),
                     f"[{name}] no RBAC objects (rbac.create={values['rbac']['create']}, kubernetes={values['kubernetes']})")
        report.note(f"[{name}] RBAC: none, as expected")
        return

    # ClusterRole: namespaced rules when watching everything, stop rules when stop is on.
    expected_cluster = (permissions["namespaced"] if not watch else []) + permissions["cluster"]
    if expected_cluster:
        if report.check(list(cluster_roles) == [fullname], f"[{name}] one ClusterRole {fullname}",
                        f"found {sorted(cluster_roles)}"):
            got = rule_set(cluster_roles[fullname]["rules"])
            report.check(got == rule_set(expected_cluster),
                         f"[{name}] ClusterRole rules equal `flink-monitor rbac`"
                         f"{' --enable-stop' if stop else ''} ({'namespaced + ' if not watch else ''}"
                         f"{'cluster' if stop else 'no cluster'} rules)",
                         rule_diff(cluster_roles[fullname]["rules"], expected_cluster))
    else:
        report.check(not cluster_roles, f"[{name}] no ClusterRole (namespaces listed, stop off)",
                     f"found {sorted(cluster_roles)}")

    # A Role per watched namespace with the namespaced rules.
    expected_roles = {(ns, fullname) for ns in watch}
    if leader:
        expected_roles.add((NAMESPACE, f"{fullname}-lease"))
    report.check(set(roles) == expected_roles, f"[{name}] Roles exactly {sorted(expected_roles)}",
                 f"found {sorted(roles)}")
    for ns in watch:
        role = roles.get((ns, fullname))
        if role:
            report.check(rule_set(role["rules"]) == rule_set(permissions["namespaced"]),
                         f"[{name}] Role {fullname} in {ns} has the namespaced rules",
                         rule_diff(role["rules"], permissions["namespaced"]))
    lease = roles.get((NAMESPACE, f"{fullname}-lease"))
    if leader and lease:
        report.check(rule_set(lease["rules"]) == rule_set(permissions["lease"]),
                     f"[{name}] lease Role has `flink-monitor rbac --leader-election`'s lease rules",
                     rule_diff(lease["rules"], permissions["lease"]))
    report.check(not leader or permissions["lease"], f"[{name}] the binary lists lease rules with leader election")

    # Bindings: one per role, to the role, for the pods' ServiceAccount.
    bindings = of_kind("RoleBinding") + of_kind("ClusterRoleBinding")
    for binding in bindings:
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace", "")
        target = cluster_roles.get(ref["name"]) if ref["kind"] == "ClusterRole" else roles.get((ns, ref["name"]))
        report.check(target is not None, f"[{name}] {binding['kind']} {ns}/{binding['metadata']['name']} "
                     f"refers to a rendered {ref['kind']} {ref['name']}")
        report.check(binding.get("subjects") == [{"kind": "ServiceAccount", "name": service_account,
                                                  "namespace": NAMESPACE}],
                     f"[{name}] {binding['kind']} {ns}/{binding['metadata']['name']} binds "
                     f"ServiceAccount {NAMESPACE}/{service_account}", json.dumps(binding.get("subjects")))
    report.check(len(of_kind("RoleBinding")) == len(roles) and len(of_kind("ClusterRoleBinding")) == len(cluster_roles),
                 f"[{name}] one binding per Role / ClusterRole")
    report.note(f"[{name}] RBAC equals `flink-monitor rbac{' --enable-stop' if stop else ''}"
                f"{' --leader-election' if leader else ''}`: ClusterRole "
                f"{'with ' + str(len(expected_cluster)) + ' rules' if expected_cluster else 'absent'}, "
                f"{len(watch)} namespace Role(s), lease Role {'present' if leader else 'absent'}")


def check_workload(report: Report, name: str, values: dict, objects: list[dict], known_env: set[str],
                   notes: str) -> None:
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    deployments = by_kind.get("Deployment", [])
    if not report.check(len(deployments) == 1, f"[{name}] one Deployment"):
        return
    deployment = deployments[0]
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"].get("labels", {})
    spec = pod["spec"]
    report.check(labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels),
                 f"[{name}] Deployment selector matches its pod labels")
    report.check(deployment["spec"].get("replicas") == values["replicaCount"], f"[{name}] replicas = replicaCount")
    containers = spec["containers"]
    container = containers[0]
    report.check(container.get("args") == ["run"], f"[{name}] container runs `flink-monitor run`")
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    report.check(ports == {"http": 8080}, f"[{name}] container port http = 8080", str(ports))

    env = {e["name"]: e for e in container.get("env", [])}
    extra = {e["name"] for e in values.get("extraEnv") or []}
    unknown = set(env) - known_env - EXTRA_ENV - extra
    report.check(not unknown, f"[{name}] every env var is one `flink-monitor run` reads", ", ".join(sorted(unknown)))
    missing_flags = {v for v in known_env if v.startswith("FLINK_MONITOR_")} - set(env) - {
        "FLINK_MONITOR_CLUSTERS", "FLINK_MONITOR_NAMESPACES", "FLINK_MONITOR_SERVICE_SELECTOR",
        "FLINK_MONITOR_ENABLE_STOP", "FLINK_MONITOR_STOP_TOKEN_FILE", "FLINK_MONITOR_LEADER_ELECTION"}
    report.check(not missing_flags, f"[{name}] every always-set FLINK_MONITOR_* variable is set",
                 ", ".join(sorted(missing_flags)))

    def value(var):
        return env.get(var, {}).get("value")

    leader = values["replicaCount"] > 1
    report.check(value("FLINK_MONITOR_LEADER_ELECTION") == ("true" if leader else None),
                 f"[{name}] FLINK_MONITOR_LEADER_ELECTION {'true' if leader else 'unset'} with replicaCount "
                 f"{values['replicaCount']}")
    report.check(value("FLINK_MONITOR_ENABLE_STOP") == ("true" if values["stop"]["enabled"] else None),
                 f"[{name}] FLINK_MONITOR_ENABLE_STOP follows stop.enabled")
    report.check(value("FLINK_MONITOR_NAMESPACES") == (",".join(values["watchNamespaces"]) or None),
                 f"[{name}] FLINK_MONITOR_NAMESPACES = watchNamespaces")
    report.check(value("FLINK_MONITOR_KUBERNETES") == values["kubernetes"], f"[{name}] FLINK_MONITOR_KUBERNETES")
    clusters = ",".join(f"{c['name']}={c['url']}" for c in values.get("clusters") or []) or None
    report.check(value("FLINK_MONITOR_CLUSTERS") == clusters, f"[{name}] FLINK_MONITOR_CLUSTERS = clusters")
    for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        ref = env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        report.check(ref == field, f"[{name}] {var} from the downward API ({field})", str(ref))
    report.check(spec.get("automountServiceAccountToken") == (values["kubernetes"] != "off"),
                 f"[{name}] the API token is mounted exactly when Kubernetes mode is not off")

    # The stop token: a Secret volume mounted where FLINK_MONITOR_STOP_TOKEN_FILE points.
    token_secret = values["stop"]["tokenSecret"]["name"] if values["stop"]["enabled"] else ""
    token_file = value("FLINK_MONITOR_STOP_TOKEN_FILE")
    if token_secret:
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = [m for m in container.get("volumeMounts", []) if token_file and token_file.startswith(m["mountPath"] + "/")]
        ok = False
        if token_file and mounts:
            secret = volumes.get(mounts[0]["name"], {}).get("secret", {})
            file = token_file[len(mounts[0]["mountPath"]) + 1:]
            ok = (secret.get("secretName") == token_secret and mounts[0].get("readOnly") is True
                  and {"key": values["stop"]["tokenSecret"]["key"], "path": file} in secret.get("items", []))
        report.check(ok, f"[{name}] stop token: Secret {token_secret} mounted read-only at {token_file}")
    else:
        report.check(token_file is None and not spec.get("volumes"), f"[{name}] no stop token file or volume")

    # Probes and hardening.
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        report.check(get.get("path") == path and get.get("port") in ("http", 8080),
                     f"[{name}] {probe} GET {path} on port http", json.dumps(get))
    sc, psc = container.get("securityContext", {}), spec.get("securityContext", {})
    report.check(sc.get("runAsNonRoot") is True or psc.get("runAsNonRoot") is True, f"[{name}] runAsNonRoot")
    report.check(sc.get("readOnlyRootFilesystem") is True, f"[{name}] readOnlyRootFilesystem")
    report.check(sc.get("allowPrivilegeEscalation") is False, f"[{name}] allowPrivilegeEscalation false")
    report.check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"[{name}] capabilities drop ALL")
    report.check((sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                 f"[{name}] seccompProfile RuntimeDefault")
    report.check(bool(container.get("resources")), f"[{name}] resources set")

    # Service, ServiceMonitor, PodDisruptionBudget, NetworkPolicy select these pods.
    services = by_kind.get("Service", [])
    if report.check(len(services) == 1, f"[{name}] one Service"):
        service = services[0]
        report.check(labels_match(service["spec"]["selector"], pod_labels), f"[{name}] Service selects the pods")
        report.check([(p.get("name"), p.get("targetPort")) for p in service["spec"]["ports"]] == [("http", "http")],
                     f"[{name}] Service port named http targets http")
        for monitor in by_kind.get("ServiceMonitor", []):
            check_servicemonitor(report, name, monitor, service)
    report.check(bool(by_kind.get("ServiceMonitor")) == values["serviceMonitor"]["enabled"],
                 f"[{name}] ServiceMonitor exactly when serviceMonitor.enabled")
    for kind, key, flag in (("PodDisruptionBudget", ("selector", "matchLabels"), "podDisruptionBudget"),
                            ("NetworkPolicy", ("podSelector", "matchLabels"), "networkPolicy")):
        found = by_kind.get(kind, [])
        report.check(bool(found) == values[flag]["enabled"], f"[{name}] {kind} exactly when {flag}.enabled")
        for obj in found:
            report.check(labels_match(obj["spec"][key[0]][key[1]], pod_labels), f"[{name}] {kind} selects the pods")
    sa = spec.get("serviceAccountName")
    accounts = [o["metadata"]["name"] for o in by_kind.get("ServiceAccount", [])]
    report.check(accounts == ([sa] if values["serviceAccount"]["create"] else []),
                 f"[{name}] the ServiceAccount {sa} is created exactly when serviceAccount.create", str(accounts))

    # NOTES.txt tells how to reach the API and to list the FlinkJobs.
    fullname = deployment["metadata"]["name"]
    report.check(f"port-forward service/{fullname}" in notes and f"http://{fullname}.{NAMESPACE}.svc:" in notes
                 and "curl" in notes, f"[{name}] NOTES.txt shows port-forward, the in-cluster URL and curl")
    if values["kubernetes"] != "off":
        report.check("kubectl get fj -A" in notes, f"[{name}] NOTES.txt says `kubectl get fj -A`")
    report.note(f"[{name}] Deployment, Service, env ({len(env)} vars), probes, security settings, selectors "
                f"and NOTES.txt checked")


def check_servicemonitor(report: Report, name: str, monitor: dict, service: dict) -> None:
    spec = monitor.get("spec", {})
    report.check(labels_match(spec.get("selector", {}).get("matchLabels", {}), service["metadata"]["labels"]),
                 f"[{name}] ServiceMonitor selects the Service")
    report.check(spec.get("namespaceSelector", {}).get("matchNames") == [NAMESPACE],
                 f"[{name}] ServiceMonitor looks in the release namespace")
    endpoints = spec.get("endpoints", [])
    report.check(len(endpoints) == 1 and endpoints[0].get("port") == "http" and endpoints[0].get("path") == "/metrics",
                 f"[{name}] ServiceMonitor scrapes port http /metrics", json.dumps(endpoints))
    allowed = {"port", "path", "interval", "scrapeTimeout"}
    report.check(all(set(e) <= allowed for e in endpoints) and set(spec) <= {"selector", "namespaceSelector", "endpoints"},
                 f"[{name}] ServiceMonitor uses only known fields")


def check_render(report: Report, name: str, values: dict | None, permissions_for, known_env, versions) -> None:
    release, error, api = install(values)
    if not report.check(release is not None, f"[{name}] helm install renders the chart", error):
        return
    report.check(not api.unhandled, f"[{name}] the fake API server answered every request Helm made",
                 "; ".join(api.unhandled))
    created = [o for o in api.created]
    manifest = [o for o in yaml.safe_load_all(release.get("manifest", "")) if o]
    crds = [o for o in created if o["kind"] == "CustomResourceDefinition"]
    report.check(len(crds) == 1 and crds[0]["metadata"]["name"] == "flinkjobs.flinkmonitor.dev",
                 f"[{name}] Helm installed the FlinkJob CRD from crds/")
    key = lambda o: (o["kind"], o["metadata"].get("namespace", NAMESPACE), o["metadata"]["name"])  # noqa: E731
    report.check(sorted(map(key, manifest)) == sorted(key(o) for o in created if o["kind"] != "CustomResourceDefinition"),
                 f"[{name}] Helm created exactly the objects of its manifest")
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    missing_ns = [f"{o['kind']}/{o['metadata']['name']}" for o in manifest
                  if o["kind"] not in cluster_scoped and not o["metadata"].get("namespace")]
    report.check(not missing_ns, f"[{name}] every namespaced object names its namespace", ", ".join(missing_ns))
    report.note(f"[{name}] rendered and installed: "
                + ", ".join(f"{k}/{n}" + (f" ({ns})" if ns != NAMESPACE and k not in cluster_scoped else "")
                            for k, ns, n in map(key, created)))
    validate_objects(report, name, created, versions)
    merged = coalesce(yaml.safe_load((CHART / "values.yaml").read_text()), values or {})
    leader = int(merged["replicaCount"]) > 1
    check_rbac(report, name, merged, manifest, permissions_for(merged["stop"]["enabled"], leader))
    check_workload(report, name, merged, manifest, known_env, release.get("info", {}).get("notes", ""))


def run_checks(report: Report, only: list[str] | None = None, rejected: bool = True) -> None:
    """Every check of the chart at CHART; `only` limits the value sets (by name)."""
    check_crd(report)
    if only is None:
        check_dockerfile(report)

    cache: dict[tuple[bool, bool], dict] = {}

    def permissions_for(stop: bool, leader: bool) -> dict:
        if (stop, leader) not in cache:
            args = ["rbac"] + (["--enable-stop"] if stop else []) + (["--leader-election"] if leader else [])
            cache[(stop, leader)] = json.loads(flink_monitor(*args))
        return cache[(stop, leader)]

    known_env = set(re.findall(r"\[env: ([A-Z_]+)=", flink_monitor("run", "--help")))
    if not report.check(bool(known_env), "`flink-monitor run --help` lists env vars"):
        return
    versions = kube_versions()

    value_sets: dict[str, dict | None] = {"default values": None}
    for path in sorted((CHART / "ci").glob("*.yaml")):
        value_sets[f"ci/{path.name}"] = yaml.safe_load(path.read_text()) or {}
    value_sets.update(SCENARIOS)

    with tempfile.TemporaryDirectory(prefix="chart-check-") as tmp:
        workdir = Path(tmp)
        for name, values in value_sets.items():
            if only is not None and name not in only:
                continue
            report.section(f"Values: {name}")
            check_lint(report, name, values, workdir)
            check_render(report, name, values, permissions_for, known_env, versions)
        if rejected:
            check_rejected(report, workdir)


# Breakages the checks must catch: (what, file in the chart, text, replacement, words of the
# expected failure, value sets to run, run the rejected-values checks).
MUTATIONS = [
    ("CRD copy edited", f"crds/{CRD_NAME}", "  scope: Namespaced", "  scope: Cluster",
     f"equals crds/{CRD_NAME}", [], False),
    ("a verb dropped from a rule", "templates/_helpers.tpl", 'verbs: ["create", "list", "watch"]',
     'verbs: ["list", "watch"]', "ClusterRole rules equal", ["default values"], False),
    ("namespaced rules cluster-wide despite watchNamespaces", "templates/clusterrole.yaml",
     "{{- if $watchAll }}\n  {{- include", "{{- if true }}\n  {{- include", "ClusterRole rules equal",
     ["ci/all-on-values.yaml"], False),
    ("stop rules without stop", "templates/clusterrole.yaml", "{{- if .Values.stop.enabled }}\n  {{- include",
     "{{- if true }}\n  {{- include", "ClusterRole rules equal", ["default values"], False),
    ("Lease Role with one replica", "templates/_helpers.tpl", "gt (int .Values.replicaCount) 1",
     "gt (int .Values.replicaCount) 0", "Roles exactly", ["default values"], False),
    ("an env var the binary does not read", "templates/deployment.yaml", "name: FLINK_MONITOR_POLL_INTERVAL",
     "name: FLINK_MONITOR_POLL_INTERVALS", "every env var is one", ["default values"], False),
    ("writable root filesystem", "templates/deployment.yaml", "readOnlyRootFilesystem: true",
     "readOnlyRootFilesystem: false", "readOnlyRootFilesystem", ["default values"], False),
    ("a field Kubernetes does not know", "templates/service.yaml", "  type: {{ .Values.service.type }}",
     "  type: {{ .Values.service.type }}\n  sessionAfinity: None", "is valid for Kubernetes",
     ["default values"], False),
    ("Service port renamed", "templates/service.yaml", "- name: http", "- name: web", "port named http",
     ["default values"], False),
    ("schema accepting unknown keys", "values.schema.json", '"additionalProperties": false,\n  "properties"',
     '"additionalProperties": true,\n  "properties"', "[unknown top-level key] helm lint reports an error",
     [], True),
]


def self_test() -> int:
    """Breaks a copy of the chart in each way of MUTATIONS; the checks must fail each time."""
    global CHART
    original, failures, passed = CHART, [], 0
    print(f"chart-self-test: {len(MUTATIONS)} breakages of a copy of the chart must be caught")
    with tempfile.TemporaryDirectory(prefix="chart-check-self-test-") as tmp:
        for what, file, old, new, expected, only, rejected in MUTATIONS:
            CHART = Path(tmp) / "flink-monitor"
            if CHART.exists():
                shutil.rmtree(CHART)
            shutil.copytree(original, CHART)
            path = CHART / file
            text = path.read_text()
            if old not in text:
                failures.append(f"{what}: {old!r} is not in {file} any more; update MUTATIONS")
                continue
            path.write_text(text.replace(old, new, 1))
            report = Report(quiet=True)
            run_checks(report, only=only, rejected=rejected)
            caught = [f for f in report.failures if expected in f]
            if caught:
                passed += 1
                print(f"  ok   {what}: caught ({caught[0].splitlines()[0][:150]})")
            else:
                failures.append(f"{what}: not caught (wanted a failure with {expected!r}; got "
                                f"{report.failures or 'no failure'})")
                print(f"  FAIL {failures[-1]}")
    CHART = original
    return summary("chart-self-test", passed, failures)


def summary(name: str, passed: int, failures: list[str]) -> int:
    print()
    if failures:
        print(f"{name}: FAILED")
        for failure in failures:
            print(f"  - {failure}")
        print(f"{name}: {passed} passed, {len(failures)} failed")
        return 1
    print(f"{name}: {passed} passed, 0 failed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--self-test", action="store_true",
                      help="only check that the checks catch deliberate breakages of a copy of the chart")
    mode.add_argument("--all", action="store_true", help="the checks, then the self-test")
    args = parser.parse_args()
    print(f"chart-check: {CHART.relative_to(ROOT)} with Helm engine {helm_sdkpy.get_version()} "
          f"(helm-sdkpy {helm_sdkpy.__version__}), kubernetes-validate {kubernetes_validate.__version__}")
    status = 0
    if not args.self_test:
        report = Report()
        run_checks(report)
        status = summary("chart-check", report.passed, report.failures)
    if args.self_test or args.all:
        print()
        status = self_test() or status
    return status


if __name__ == "__main__":
    sys.exit(main())
