"""Init container of the operator pods: server-side apply the custom resources the chart asks for (kopf's
peering object(s), the optional default VectorStore), waiting until their CRDs are served.

Why not Helm: Helm maps every manifest to an API before it creates anything, so a custom resource of a CRD
installed by the same release cannot be created reliably on the first install (a hook races the CRD's
establishment). The operator needs its peering object before it acts (kopf only patches it, and with no
object the replicas would not see each other), so the pod makes sure of it first.

Standard library only. In a pod it uses the ServiceAccount; tests point it elsewhere with KUBE_API,
KUBE_TOKEN_FILE and KUBE_CA_FILE. Input: a JSON list of {"path": API path of the object, "manifest": {...}}
in the file named by the first argument."""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def main() -> int:
    api = os.environ.get("KUBE_API") or "https://{}:{}".format(
        os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    )
    with open(os.environ.get("KUBE_TOKEN_FILE", f"{SA}/token")) as f:
        token = f.read().strip()
    context = ssl.create_default_context(cafile=os.environ.get("KUBE_CA_FILE", f"{SA}/ca.crt"))
    with open(sys.argv[1]) as f:
        objects = json.load(f)
    deadline = time.monotonic() + float(os.environ.get("TIMEOUT_SECONDS", "300"))
    for obj in objects:
        url = f"{api}{obj['path']}?fieldManager=vectorops-chart&force=true"
        body = json.dumps(obj["manifest"]).encode()
        while True:
            request = urllib.request.Request(url, data=body, method="PATCH")
            request.add_header("Authorization", f"Bearer {token}")
            request.add_header("Content-Type", "application/apply-patch+yaml")
            try:
                with urllib.request.urlopen(request, context=context, timeout=30):
                    print(f"applied {obj['path']}", flush=True)
                    break
            except urllib.error.HTTPError as e:
                # 404: the CRD is not served yet (installed by the same release a moment ago).
                if e.code != 404 or time.monotonic() > deadline:
                    print(f"applying {obj['path']} failed: {e.code} {e.read()[:500]!r}", file=sys.stderr)
                    return 1
            except OSError as e:
                if time.monotonic() > deadline:
                    print(f"applying {obj['path']} failed: {e}", file=sys.stderr)
                    return 1
            time.sleep(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
