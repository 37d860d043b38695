"""Smoke test of the real `operator run` binary against the kmock Kubernetes emulator.

Not proof of API-server semantics (kmock has no validation, SSA field ownership, GC or RBAC): it
shows the watch -> reconcile -> apply -> status loop working end to end, a bad RocketMQCluster
beside good ones, and the operator's memory while it watches N clusters.

A thin wrapper fixes kmock's known gaps for kube-rs: server-side apply of a missing object creates
it; objects get uid, resourceVersion, creationTimestamp and generation; lists honour
labelSelector; not-found answers carry reason NotFound.

Usage: python kmock-smoke.py OPERATOR_BINARY [CLUSTERS]   (prints a JSON summary; exit 1 on failure)
"""
import asyncio
import datetime
import itertools
import json
import os
import sys
import tempfile
import uuid

import aiohttp
import attrs
import kmock
from kmock._internal import enums

RESOURCES = [
    "rocketmq.rocketmq-rs.io/v1alpha1/rocketmqclusters",
    "rocketmq.rocketmq-rs.io/v1alpha1/rocketmqtopics",
    "rocketmq.rocketmq-rs.io/v1alpha1/rocketmqconsumergroups",
    "apps/v1/statefulsets",
    "apps/v1/deployments",
    "v1/pods",
    "v1/configmaps",
    "v1/services",
    "policy/v1/poddisruptionbudgets",
    "events.k8s.io/v1/events",
]
_rv = itertools.count(1)


def _stamp(meta, create):
    meta["resourceVersion"] = str(next(_rv))
    if create:
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta.setdefault("generation", 1)


def _subset(part, whole):
    """Whether applying `part` onto `whole` changes nothing (ignoring resourceVersion)."""
    if isinstance(part, dict) and isinstance(whole, dict):
        return all(k == "resourceVersion" or (k in whole and _subset(v, whole[k])) for k, v in part.items())
    return part == whole


class Emulator(kmock.KubernetesEmulator):
    async def _handle(self, request):
        if request.resource is not None and isinstance(request.data, dict) \
                and request.action in (enums.action.CREATE, enums.action.UPDATE):
            key = (request.resource, request.namespace, request.name)
            exists = request.name is not None and key in self._objects and not self._objects[key].deleted
            data = request.data
            meta = data.setdefault("metadata", {})
            if request.action == enums.action.UPDATE and request.name is not None and not exists:
                # Server-side apply creates missing objects.
                meta.setdefault("name", request.name)
                meta.setdefault("namespace", request.namespace)
                _stamp(meta, create=True)
                async with self._lock:
                    self._objects[key] = data
                    raw = self._objects[key].raw
                    await self._buses[request.resource].put({"type": "ADDED", "object": raw})
                return aiohttp.web.json_response(raw, status=201)
            if request.action == enums.action.CREATE:
                _stamp(meta, create=True)
            else:
                old = self._objects[key].raw
                body = {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}
                if not body.get("metadata"):
                    body.pop("metadata", None)
                if _subset(body, old):
                    # A no-op apply changes no resourceVersion and sends no watch event.
                    return aiohttp.web.json_response(old)
                _stamp(meta, create=False)
                for k in ("uid", "creationTimestamp"):
                    meta[k] = old.get("metadata", {}).get(k)
                gen = old.get("metadata", {}).get("generation", 1)
                if request.subresource is None and "spec" in data and data["spec"] != old.get("spec"):
                    gen += 1
                meta["generation"] = gen
        return await super()._handle(request)

    async def _serve_list(self, request):
        payload = await super()._serve_list(request)
        sel = request.params.get("labelSelector", "")
        if sel:
            want = [kv.split("=", 1) for kv in sel.split(",") if "=" in kv]
            payload["items"] = [o for o in payload["items"]
                                if all(o.get("metadata", {}).get("labels", {}).get(k) == v for k, v in want)]
        payload["metadata"]["resourceVersion"] = str(next(_rv))
        return payload

    async def _render_error(self, exc):
        if isinstance(exc, kmock.KubernetesNotFoundError):
            exc = kmock.KubernetesError(status=404, reason="NotFound", message=exc.message)
        return await super()._render_error(exc)


def cluster(name, spec):
    return {"apiVersion": "rocketmq.rocketmq-rs.io/v1alpha1", "kind": "RocketMQCluster",
            "metadata": {"name": name, "namespace": "rmq"}, "spec": spec}


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    emu = Emulator()
    for r in RESOURCES:
        emu.resources[r] = {}
    async with emu, kmock.Server(emu) as srv:
        url = str(srv.url).rstrip("/")
        tmp = tempfile.mkdtemp()
        kubeconfig = os.path.join(tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "kmock",
                       "clusters": [{"name": "kmock", "cluster": {"server": url}}],
                       "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock", "namespace": "rmq"}}],
                       "users": [{"name": "kmock", "user": {"token": "x"}}]}, f)
        env = dict(os.environ, KUBECONFIG=kubeconfig, RUST_LOG=os.environ.get("RUST_LOG", "info,kube=warn"))
        log = open(os.path.join(tmp, "operator.log"), "w")
        proc = await asyncio.create_subprocess_exec(binary, "run", "--http", "127.0.0.1:0", "--leader-elect=false", env=env,
                                                    stdout=log, stderr=log)
        failures = []
        try:
            base = f"{url}/apis/rocketmq.rocketmq-rs.io/v1alpha1/namespaces/rmq/rocketmqclusters"
            async with aiohttp.ClientSession() as http:
                for i in range(n):
                    spec = {"broker": {"groups": 2, "replicasPerGroup": 1}}
                    async with http.post(base, json=cluster(f"c{i}", spec)) as r:
                        assert r.status < 300, await r.text()
                async with http.post(base, json=cluster("bad", {"broker": {"replicasPerGroup": 0, "replication": "sync"}})) as r:
                    assert r.status < 300, await r.text()

                def objects():
                    return [(str(r), ns, nm, o) for (r, ns, nm), o in emu.objects.items() if not o.deleted]

                def status_of(name):
                    for r, ns, nm, o in objects():
                        if "rocketmqclusters" in r and nm == name:
                            return o.raw.get("status")
                    return None

                deadline = asyncio.get_running_loop().time() + 60
                while asyncio.get_running_loop().time() < deadline:
                    done = sum(1 for i in range(n) if (status_of(f"c{i}") or {}).get("mode") == "2m-2s-async")
                    bad = status_of("bad") or {}
                    bad_degraded = any(c.get("type") == "Degraded" and c.get("reason") == "SyncWithoutSlave"
                                       for c in bad.get("conditions", []))
                    if done == n and bad_degraded:
                        break
                    await asyncio.sleep(0.5)
                else:
                    failures.append(f"statuses: {done}/{n} good clusters reconciled, bad degraded={bad_degraded}")
                sts = [nm for r, ns, nm, o in objects() if "statefulsets" in r]
                if len(sts) != 2 * n:
                    failures.append(f"expected {2 * n} StatefulSets, found {len(sts)}")
                if any(nm.startswith("bad-") for r, ns, nm, o in objects()):
                    failures.append("the refused cluster got children")
                await asyncio.sleep(3)  # settle, then measure
                rss = rss_kib(proc.pid)
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                failures.append("operator did not stop within 10 s of SIGTERM")
        summary = {"clusters": n, "statefulsets": len(sts), "operator_rss_kib": rss,
                   "operator_rss_mib": round(rss / 1024, 1), "exit_code": proc.returncode, "failures": failures,
                   "log": os.path.join(tmp, "operator.log")}
        print(json.dumps(summary))
        if failures:
            sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
